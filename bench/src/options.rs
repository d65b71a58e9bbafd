//! Command-line options and the sizes of each run (quick or full).

use std::path::PathBuf;

/// The measurement families, in the order they run.
pub const FAMILIES: [&str; 11] = [
    "l1",
    "l1-100k",
    "codec",
    "macro",
    "l2",
    "miss",
    "stampede",
    "fleet",
    "swr",
    "hit-ratio",
    "memory",
];

/// What the command line asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// `--quick`: small sizes, finishes in well under two minutes (CI proves it still works).
    pub quick: bool,
    /// Where `bench.md` and `bench.svg` go.
    pub out_dir: PathBuf,
    /// `--only l1,l2,...`: run only these families.
    pub only: Option<Vec<String>>,
    /// Internal: `--memory-child <contender> <entries>` measures one contender's memory in a
    /// process of its own and prints the result.
    pub memory_child: Option<(String, usize)>,
    /// `--profile <scenario> [--ops N]`: run one contender's hot loop only, for a profiler.
    pub profile: Option<(String, usize)>,
}

impl Options {
    /// Whether the family `name` should run.
    pub fn runs(&self, name: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|only| only.iter().any(|f| f == name))
    }

    /// The sizes for this mode.
    pub fn params(&self) -> Params {
        if self.quick {
            Params::quick()
        } else {
            Params::full()
        }
    }
}

/// The usage text.
pub const USAGE: &str = "\
usage: tiered-cache-bench [--quick] [--out DIR] [--only FAMILY,...]

  --quick         small sizes (under two minutes); default is the full run
  --out DIR       where to write bench.md and bench.svg
                  (default: <workspace>/docs for the full run, <workspace>/target/bench-quick for --quick)
  --only LIST     comma-separated families: l1, l1-100k, codec, macro, l2, miss, stampede,
                  fleet, swr, hit-ratio, memory
  --profile S     run one hot loop only, for valgrind --tool=callgrind or perf:
                  l1-ours, l1-quick_cache, l1-quick_cache_arc, l1-moka, l1-cached, l1-foyer,
                  l1-100k-ours, l1-100k-ours_shared, l1-100k-ours_arc, l1-100k-quick_cache, l1-100k-quick_cache_arc,
                  macro-macro, macro-hand,
                  l2-ours, l2-raw, l2-raw_boxed, l2-raw_boxed_twice, l2-cached (one task) or l2-ours-256 (256 tasks), ...
  --ops N         operations of --profile (default 100000)

Starts its own redis-server on a free loopback port, or uses REDIS_URL (loopback only).";

/// Parses the arguments after the program name.
pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Options, String> {
    let mut quick = false;
    let mut out_dir = None;
    let mut only = None;
    let mut memory_child = None;
    let mut profile = None;
    let mut ops = 100_000;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => quick = true,
            "--full" => quick = false,
            "--out" => {
                let dir = args.next().ok_or("--out needs a directory")?;
                out_dir = Some(PathBuf::from(dir));
            }
            "--only" => {
                let list = args.next().ok_or("--only needs a list of families")?;
                let names: Vec<String> = list.split(',').map(|s| s.trim().to_owned()).collect();
                if let Some(bad) = names.iter().find(|n| !FAMILIES.contains(&n.as_str())) {
                    return Err(format!(
                        "unknown family `{bad}` (known: {})",
                        FAMILIES.join(", ")
                    ));
                }
                only = Some(names);
            }
            "--memory-child" => {
                let contender = args.next().ok_or("--memory-child needs a contender")?;
                let entries = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .ok_or("--memory-child needs an entry count")?;
                memory_child = Some((contender, entries));
            }
            "--profile" => profile = Some(args.next().ok_or("--profile needs a scenario")?),
            "--ops" => {
                ops = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .ok_or("--ops needs a count")?;
            }
            "-h" | "--help" => return Err(USAGE.to_owned()),
            // `cargo bench` passes `--bench`; ignore it.
            "--bench" => {}
            other => return Err(format!("unknown argument `{other}`\n{USAGE}")),
        }
    }
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let out_dir = out_dir.unwrap_or_else(|| {
        if quick {
            workspace.join("target").join("bench-quick")
        } else {
            workspace.join("docs")
        }
    });
    Ok(Options {
        quick,
        out_dir,
        only,
        memory_child,
        profile: profile.map(|scenario| (scenario, ops)),
    })
}

/// How much work each family does.
#[derive(Debug, Clone)]
pub struct Params {
    /// Interleaved rounds of the L1 batches (the median batch is reported).
    pub l1_rounds: usize,
    /// Operations per L1 batch (per thread).
    pub l1_batch: usize,
    /// Interleaved rounds of single-caller L2 batches.
    pub l2_rounds: usize,
    /// Calls per single-caller L2 batch.
    pub l2_batch: usize,
    /// Interleaved rounds of the concurrent L2 batches.
    pub l2_concurrent_rounds: usize,
    /// Calls per concurrent L2 batch (all tasks together).
    pub l2_concurrent_ops: usize,
    /// Stampede trials per contender (a fresh cold key each).
    pub stampede_trials: usize,
    /// Propagations timed from one instance to another (fleet family).
    pub propagation_trials: usize,
    /// Seconds of each SWR phase (ours plain, ours with refreshes, moka), per round.
    pub swr_phase_secs: f64,
    /// Alternating SWR rounds.
    pub swr_rounds: usize,
    /// Requests of each Zipf trace (the first fifth warms the caches and is not counted).
    pub zipf_requests: usize,
    /// Entries for the memory measurement.
    pub memory_entries: usize,
    /// Alternating rounds of the macro comparison (more and shorter than L1's: its target is
    /// tight, so drift must hit both forms alike).
    pub macro_rounds: usize,
    /// Calls per macro batch.
    pub macro_batch: usize,
}

impl Params {
    /// The `--quick` sizes.
    pub fn quick() -> Self {
        Params {
            l1_rounds: 5,
            l1_batch: 200_000,
            l2_rounds: 8,
            l2_batch: 250,
            l2_concurrent_rounds: 2,
            l2_concurrent_ops: 20_000,
            stampede_trials: 2,
            propagation_trials: 20,
            swr_phase_secs: 1.0,
            swr_rounds: 2,
            zipf_requests: 500_000,
            memory_entries: 1_000_000,
            macro_rounds: 11,
            macro_batch: 100_000,
        }
    }

    /// The full sizes (the default).
    pub fn full() -> Self {
        Params {
            l1_rounds: 15,
            l1_batch: 1_000_000,
            l2_rounds: 60,
            l2_batch: 300,
            l2_concurrent_rounds: 5,
            l2_concurrent_ops: 100_000,
            stampede_trials: 5,
            propagation_trials: 300,
            swr_phase_secs: 4.0,
            swr_rounds: 3,
            zipf_requests: 4_000_000,
            memory_entries: 1_000_000,
            macro_rounds: 41,
            macro_batch: 250_000,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_strs(args: &[&str]) -> Result<Options, String> {
        parse(args.iter().map(|s| (*s).to_owned()))
    }

    #[test]
    fn defaults_to_the_full_run_into_docs() {
        let options = parse_strs(&[]).expect("no arguments is valid");
        assert!(!options.quick);
        assert!(options.out_dir.ends_with("docs"));
        assert!(options.runs("l2"));
    }

    #[test]
    fn quick_writes_under_target() {
        let options = parse_strs(&["--quick"]).expect("valid");
        assert!(options.quick);
        assert!(options.out_dir.ends_with("bench-quick"));
    }

    #[test]
    fn only_filters_and_refuses_unknown_families() {
        let options = parse_strs(&["--only", "l1,swr"]).expect("valid");
        assert!(options.runs("l1") && options.runs("swr") && !options.runs("l2"));
        assert!(parse_strs(&["--only", "l3"]).is_err());
        assert!(parse_strs(&["--out"]).is_err());
        assert!(parse_strs(&["--frobnicate"]).is_err());
    }

    #[test]
    fn profile_takes_a_scenario_and_ops() {
        let options = parse_strs(&["--profile", "l1-ours", "--ops", "500"]).expect("valid");
        assert_eq!(options.profile, Some(("l1-ours".to_owned(), 500)));
        assert!(parse_strs(&["--profile"]).is_err());
    }

    #[test]
    fn memory_child_needs_a_count() {
        let options = parse_strs(&["--memory-child", "moka", "1000"]).expect("valid");
        assert_eq!(options.memory_child, Some(("moka".to_owned(), 1000)));
        assert!(parse_strs(&["--memory-child", "moka", "many"]).is_err());
    }
}
