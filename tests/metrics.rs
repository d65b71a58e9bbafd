//! `tiered_cache::metrics` through a real recorder (`metrics-util`'s debugging recorder), two
//! instances on a real Redis: every series is exported, labelled with the cache's name, and
//! agrees with `stats()` and with what the origin saw. The README's metrics table lists exactly
//! the exported series.

#![cfg(feature = "metrics")]

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use support::{cache, config, test_redis};
use tiered_cache::TieredCache;
use tiered_cache::metrics::{Kind, SERIES};

/// `(cache, name, sorted other labels)` -> value, from one publish of each cache.
type Exported = BTreeMap<(String, String, Vec<(String, String)>), f64>;

fn export(caches: &[&TieredCache]) -> Exported {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        for cache in caches {
            tiered_cache::metrics::publish(cache);
        }
    });
    let mut out = Exported::new();
    for (key, _unit, _help, value) in snapshotter.snapshot().into_vec() {
        let mut cache_name = None;
        let mut labels = Vec::new();
        for label in key.key().labels() {
            if label.key() == "cache" {
                cache_name = Some(label.value().to_owned());
            } else {
                labels.push((label.key().to_owned(), label.value().to_owned()));
            }
        }
        labels.sort();
        let value = match value {
            DebugValue::Counter(v) => v as f64,
            DebugValue::Gauge(v) => v.into_inner(),
            DebugValue::Histogram(_) => panic!("no histogram is published"),
        };
        let cache_name = cache_name.expect("every series carries the cache label");
        out.insert((cache_name, key.key().name().to_owned(), labels), value);
    }
    out
}

fn value(exported: &Exported, cache: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let mut labels: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    labels.sort();
    let key = (cache.to_owned(), name.to_owned(), labels);
    *exported
        .get(&key)
        .unwrap_or_else(|| panic!("{key:?} not exported; exported: {exported:#?}"))
}

#[tokio::test]
async fn metrics_agree_with_stats_and_the_origin() {
    let redis = test_redis();
    let mut config_a = config(&redis.url());
    config_a.name = "alpha".into();
    let mut config_b = config_a.clone();
    config_b.name = "beta".into();
    let a = cache(config_a).await;
    let b = cache(config_b).await;

    let origin_calls = Arc::new(AtomicU64::new(0));
    let load = |value: Result<u32, &'static str>| {
        let calls = origin_calls.clone();
        move || async move {
            calls.fetch_add(1, Ordering::SeqCst);
            value.map_err(std::io::Error::other)
        }
    };
    // A loads one key (origin call), fails to load another (origin call, error), sets a third.
    let got = a
        .get("p:1")
        .namespace("m")
        .refresh_with(load(Ok(1)))
        .await
        .expect("loaded");
    assert_eq!(got, 1);
    assert!(
        a.get("p:2")
            .namespace("m")
            .refresh_with(load(Err("origin down")))
            .await
            .is_err()
    );
    a.set("p:3", &3u32).namespace("m").await.expect("set");
    // A hits its L1; B finds both written keys in L2 (no origin call) and misses an absent one.
    let _: Option<u32> = a.get("p:1").namespace("m").await.expect("get");
    for key in ["p:1", "p:3"] {
        let seen = b
            .get(key)
            .namespace("m")
            .refresh_with(load(Ok(0)))
            .await
            .expect("served");
        assert_ne!(seen, 0, "{key} came from L2, not the origin");
    }
    let _: Option<u32> = b.get("absent").namespace("m").await.expect("get");

    let exported = export(&[&a, &b]);
    let origin = origin_calls.load(Ordering::SeqCst) as f64;
    assert_eq!(origin, 2.0);
    let loader_calls = value(&exported, "alpha", "tiered_cache_loader_calls_total", &[])
        + value(&exported, "beta", "tiered_cache_loader_calls_total", &[]);
    assert_eq!(loader_calls, origin, "the metrics saw what the origin saw");
    assert_eq!(
        value(&exported, "alpha", "tiered_cache_loader_errors_total", &[]),
        1.0
    );
    let written = &[("result", "written")];
    assert_eq!(
        value(&exported, "alpha", "tiered_cache_l2_writes_total", written),
        2.0
    );
    assert_eq!(
        value(
            &exported,
            "beta",
            "tiered_cache_gets_total",
            &[("tier", "l2"), ("result", "hit")]
        ),
        2.0,
        "what Redis served to B"
    );
    assert_eq!(
        value(
            &exported,
            "alpha",
            "tiered_cache_gets_total",
            &[("tier", "l1"), ("result", "hit")]
        ),
        1.0
    );
    // A's two writes (the load's and the set's) each published a notice, which B received.
    assert_eq!(
        value(
            &exported,
            "alpha",
            "tiered_cache_backplane_notices_published_total",
            &[]
        ),
        2.0
    );
    // By namespace: everything above was in "m"; A's origin calls were both loads of "m".
    let m_loads = |cache: &str| {
        value(
            &exported,
            cache,
            "tiered_cache_namespace_loads_total",
            &[("namespace", "m")],
        )
    };
    assert_eq!(m_loads("alpha") + m_loads("beta"), origin);
    let gets = |cache: &str, result: &str| {
        value(
            &exported,
            cache,
            "tiered_cache_namespace_gets_total",
            &[("namespace", "m"), ("result", result)],
        )
    };
    assert_eq!(gets("alpha", "hit"), 1.0);
    assert_eq!(
        gets("beta", "miss"),
        3.0,
        "B's L1 answered none of its 3 reads"
    );
    assert_eq!(
        gets("alpha", "hit") + gets("alpha", "stale") + gets("alpha", "miss"),
        value(&exported, "alpha", "tiered_cache_requests_total", &[]),
        "every read of A was in namespace m"
    );
    let closed = &[("state", "closed")];
    assert_eq!(
        value(&exported, "beta", "tiered_cache_circuit_breaker", closed),
        1.0
    );
    assert_eq!(
        value(
            &exported,
            "beta",
            "tiered_cache_circuit_breaker",
            &[("state", "open")]
        ),
        0.0
    );

    // Every series, for both caches, equals the stats snapshot's field of the same meaning.
    for (name, cache) in [("alpha", &a), ("beta", &b)] {
        let stats = serde_json::to_value(cache.stats()).expect("stats json");
        assert_eq!(
            value(&exported, name, "tiered_cache_requests_total", &[]),
            stats["overall_stats"]["total_requests"]
                .as_f64()
                .expect("number")
        );
        assert_eq!(
            value(&exported, name, "tiered_cache_l1_entries", &[]),
            stats["l1_stats"]["size"].as_f64().expect("number")
        );
        for series in SERIES {
            let labels: Vec<(&str, &str)> = series.labels.to_vec();
            let _ = value(&exported, name, series.name, &labels);
        }
    }
    let per_cache = exported
        .keys()
        .filter(|(c, name, _)| c == "alpha" && !name.starts_with("tiered_cache_namespace_"))
        .count();
    assert_eq!(per_cache, SERIES.len(), "no series beyond the table");
    // Namespaces "m" (used) and "default" (always there): three gets series and one loads
    // series each, nothing else.
    let per_namespace = exported
        .keys()
        .filter(|(c, name, _)| c == "alpha" && name.starts_with("tiered_cache_namespace_"))
        .count();
    assert_eq!(per_namespace, 8);
}

#[test]
fn the_readme_table_lists_every_series() {
    let readme = include_str!("../README.md");
    let table = readme
        .split("<!-- metrics-table -->")
        .nth(1)
        .expect("the README's metrics table is marked with <!-- metrics-table -->");
    let mut listed = BTreeSet::new();
    for row in table.lines().filter(|l| l.starts_with("| `tiered_cache_")) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let name = cells[1].trim_matches('`').to_owned();
        let kind = cells[2].to_owned();
        let labels = cells[3].replace('`', "");
        listed.insert((name, kind, labels));
    }
    let mut exported = BTreeSet::new();
    for series in SERIES {
        let kind = match series.kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            _ => "other",
        };
        let mut labels = vec!["cache".to_owned()];
        // One README row per name: the label values of a name are joined with `/`.
        let keys: Vec<String> = series.labels.iter().map(|(k, _)| (*k).to_owned()).collect();
        labels.extend(keys);
        exported.insert((series.name.to_owned(), kind.to_owned(), labels.join(", ")));
    }
    for series in tiered_cache::metrics::NAMESPACE_SERIES {
        let mut labels = vec!["cache".to_owned(), "namespace".to_owned()];
        labels.extend(series.labels.iter().map(|(k, _)| (*k).to_owned()));
        exported.insert((
            series.name.to_owned(),
            "counter".to_owned(),
            labels.join(", "),
        ));
    }
    for histogram in tiered_cache::metrics::HISTOGRAMS {
        let mut labels = vec!["cache".to_owned()];
        labels.extend(histogram.labels.iter().map(|(k, _)| (*k).to_owned()));
        exported.insert((
            histogram.name.to_owned(),
            "histogram".to_owned(),
            labels.join(", "),
        ));
    }
    let names_listed: BTreeSet<_> = listed
        .iter()
        .map(|(n, k, l)| (n.clone(), k.clone(), l.clone()))
        .collect();
    assert_eq!(
        names_listed, exported,
        "README table vs tiered_cache::metrics::SERIES"
    );
}
