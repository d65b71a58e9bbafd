//! Side-by-side benchmarks of `tiered-cache` against its peers and its floors (issue 6).
//!
//! One command runs the whole comparison against a Redis it starts itself, prints a Markdown
//! table and writes it, with an SVG chart, to `docs/`:
//!
//! ```text
//! cargo run --release -p tiered-cache-bench            # the full run (docs/bench.md, docs/bench.svg)
//! cargo run --release -p tiered-cache-bench -- --quick # a small run, to prove it works
//! ```
#![forbid(unsafe_code)]

mod batch;
mod chart;
mod codec;
mod fleet;
mod hit_ratio;
mod l1;
mod l1_large;
mod l2;
mod machine;
mod macro_hit;
mod memory;
mod miss;
mod options;
mod peers;
// The soak binary also uses its fault controls (kill, pause, restart).
#[allow(dead_code)]
mod redis_server;
mod report;
mod stampede;
mod swr;
mod timing;
mod value;
mod zipf;

use std::time::Instant;

use options::Options;
use redis_server::Redis;
use report::Report;

/// Every fallible step of the bench.
pub type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn main() {
    let options = match options::parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    let outcome = match (&options.memory_child, &options.profile) {
        (Some((contender, entries)), _) => memory::child(contender, *entries),
        (None, Some((scenario, ops))) => profile(scenario, *ops),
        (None, None) => run(&options),
    };
    if let Err(error) = outcome {
        eprintln!("tiered-cache-bench: {error}");
        std::process::exit(1);
    }
}

/// `--profile`: one contender's hot loop, nothing else (for callgrind or perf).
fn profile(scenario: &str, ops: usize) -> BenchResult<()> {
    if let Some(contender) = scenario.strip_prefix("l1-100k-") {
        return l1_large::profile(contender, ops);
    }
    if let Some(contender) = scenario.strip_prefix("l1-") {
        return l1::profile(contender, ops);
    }
    if let Some(form) = scenario.strip_prefix("macro-") {
        return macro_hit::profile(form, ops);
    }
    if let Some(rest) = scenario.strip_prefix("l2-") {
        let (contender, tasks) = match rest.rsplit_once('-') {
            Some((contender, tasks)) => (contender, tasks.parse().map_err(|_| "bad task count")?),
            None => (rest, 1),
        };
        let redis = Redis::start()?;
        return l2::profile(contender, tasks, ops, redis.url());
    }
    Err(format!("unknown profile scenario `{scenario}`\n{}", options::USAGE).into())
}

/// Runs every selected family, prints the table and writes `bench.md` and `bench.svg`.
fn run(options: &Options) -> BenchResult<()> {
    let params = options.params();
    let started = Instant::now();
    let load_before = machine::load_text();
    let mut report = Report::default();
    let needs_redis = ["l1", "l1-100k", "l2", "miss", "stampede", "fleet", "swr"]
        .iter()
        .any(|family| options.runs(family));
    let redis = if needs_redis {
        Some(Redis::start()?)
    } else {
        None
    };
    let redis_url = redis.as_ref().map(|r| r.url().to_owned());

    for family in options::FAMILIES {
        if !options.runs(family) {
            continue;
        }
        let began = Instant::now();
        eprintln!("==> {family}");
        match (family, redis_url.as_deref()) {
            ("l1", Some(url)) => l1::run(&params, url, &mut report)?,
            ("l1-100k", Some(url)) => l1_large::run(&params, url, &mut report)?,
            ("codec", _) => codec::run(&params, &mut report)?,
            ("macro", _) => macro_hit::run(&params, &mut report)?,
            ("l2", Some(url)) => l2::run(&params, url, &mut report)?,
            ("miss", Some(url)) => miss::run(&params, url, &mut report)?,
            ("stampede", Some(url)) => stampede::run(&params, url, &mut report)?,
            ("fleet", Some(url)) => fleet::run(&params, url, &mut report)?,
            ("swr", Some(url)) => swr::run(&params, url, &mut report)?,
            ("hit-ratio", _) => hit_ratio::run(&params, &mut report)?,
            ("memory", _) => memory::run(&params, &mut report)?,
            _ => {}
        }
        eprintln!("    {family} took {:.1} s", began.elapsed().as_secs_f64());
    }
    let redis_note = match &redis {
        Some(redis) if redis.is_own() => format!(
            "its own redis-server on loopback ({})",
            machine::redis_version()
        ),
        Some(_) => "REDIS_URL (loopback)".to_owned(),
        None => "no Redis (no family needed one)".to_owned(),
    };
    drop(redis);

    let mode = if options.quick {
        "`--quick` (small sizes: proves the bench works, not for judging speed)"
    } else {
        "full"
    };
    report.context = vec![
        format!("**Date:** {} (UTC)", machine::today()),
        format!(
            "**Machine:** {} cores, {}; Redis: {redis_note}",
            machine::cores(),
            machine::cpu_model()
        ),
        format!(
            "**Load average:** {load_before} before, {} after",
            machine::load_text()
        ),
        format!(
            "**Run:** {mode}, {:.0} s; `cargo run --release -p tiered-cache-bench{}`",
            started.elapsed().as_secs_f64(),
            if options.quick { " -- --quick" } else { "" }
        ),
    ];

    let markdown = report.markdown();
    println!("{markdown}");
    std::fs::create_dir_all(&options.out_dir)?;
    let md_path = options.out_dir.join("bench.md");
    let svg_path = options.out_dir.join("bench.svg");
    std::fs::write(&md_path, &markdown)?;
    chart::write(&report, &svg_path)?;
    eprintln!("wrote {} and {}", md_path.display(), svg_path.display());
    Ok(())
}
