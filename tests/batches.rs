//! Batches against a real Redis (standalone and Cluster, keys spread over slots), two
//! instances: what one writes in a batch the other reads in a batch; a batch load's one loader
//! call is shared with the other instance's reads through Redis; and a write made while a batch
//! load runs wins over the load's older value, in Redis and in both L1s.

#[macro_use]
mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use support::{cache, config};

on_both!(
    a_batch_written_by_one_instance_is_read_by_another,
    a_write_made_while_a_batch_loads_wins,
);

async fn a_batch_written_by_one_instance_is_read_by_another(url: &str) {
    let config = config(url);
    let (a, b) = (cache(config.clone()).await, cache(config).await);
    let entries: Vec<(String, u64)> = (0..100).map(|i| (format!("item:{i}"), i)).collect();
    a.set_many(&entries).namespace("items").await.unwrap();
    let keys: Vec<&str> = entries.iter().map(|(k, _)| k.as_str()).collect();
    let read = b
        .get_many::<u64, _>(&keys)
        .namespace("items")
        .await
        .unwrap();
    assert_eq!(read, (0..100).map(Some).collect::<Vec<_>>());
    assert_eq!(b.stats().l2_stats.hits, 100);

    // A batch read-through on B of 100 present and 20 absent keys calls the loader once, for
    // the 20.
    let mut wanted = keys.clone();
    let extra: Vec<String> = (100..120).map(|i| format!("item:{i}")).collect();
    wanted.extend(extra.iter().map(String::as_str));
    let asked = Arc::new(std::sync::Mutex::new(Vec::new()));
    let recorded = asked.clone();
    let got = b
        .get_many::<u64, _>(&wanted)
        .namespace("items")
        .refresh_many_with(move |missing| async move {
            recorded.lock().unwrap().push(missing.clone());
            Ok::<_, std::io::Error>(
                missing
                    .into_iter()
                    .map(|k| {
                        let n = k.trim_start_matches("item:").parse::<u64>().unwrap();
                        (k, n)
                    })
                    .collect::<HashMap<_, _>>(),
            )
        })
        .await
        .unwrap();
    assert_eq!(got, (0..120).map(Some).collect::<Vec<_>>());
    assert_eq!(*asked.lock().unwrap(), std::slice::from_ref(&extra));
    // A reads what B's batch stored, from Redis.
    let read = a
        .get_many::<u64, _>(&extra)
        .namespace("items")
        .await
        .unwrap();
    assert_eq!(read, (100..120).map(Some).collect::<Vec<_>>());

    b.invalidate_many(&extra).namespace("items").await.unwrap();
    assert!(
        support::eventually(Duration::from_secs(2), || async {
            a.get_many::<u64, _>(&extra)
                .namespace("items")
                .await
                .unwrap()
                .iter()
                .all(Option::is_none)
        })
        .await,
        "the invalidations reached A"
    );
}

async fn a_write_made_while_a_batch_loads_wins(url: &str) {
    let config = config(url);
    let (a, b) = (cache(config.clone()).await, cache(config).await);
    let started = Arc::new(AtomicU64::new(0));
    let loading = started.clone();
    let batch = tokio::spawn({
        let a = a.clone();
        async move {
            a.get_many::<String, _>(&["k1", "k2"])
                .refresh_many_with(move |missing| async move {
                    loading.fetch_add(1, Ordering::SeqCst);
                    // The origin is read now; the write below happens after.
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    Ok::<_, std::io::Error>(
                        missing
                            .into_iter()
                            .map(|k| (k, "loaded-before-the-write".to_owned()))
                            .collect::<HashMap<_, _>>(),
                    )
                })
                .await
        }
    });
    assert!(
        support::eventually(Duration::from_secs(5), || async {
            started.load(Ordering::SeqCst) == 1
        })
        .await
    );
    b.set("k1", &"written".to_owned()).await.unwrap();
    let answered = batch.await.unwrap().unwrap();
    assert_eq!(answered[1].as_deref(), Some("loaded-before-the-write"));
    // The write wins: in Redis, in the writer's L1 and in the loader's L1.
    assert_eq!(
        a.get::<String>("k1").skip_l1().await.unwrap().as_deref(),
        Some("written")
    );
    assert_eq!(
        b.get::<String>("k1").await.unwrap().as_deref(),
        Some("written")
    );
    assert!(
        support::eventually(Duration::from_secs(2), || async {
            a.get::<String>("k1").await.unwrap().as_deref() == Some("written")
        })
        .await
    );
}
