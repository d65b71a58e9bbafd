//! A read with its metadata against a real Redis: the tier a value came from (this instance's L1,
//! or Redis when another instance wrote it), and Redis's copy once L1's is older than `l1_ttl`.

mod support;

use std::time::Duration;

use support::{cache, config, test_redis};
use tiered_cache::Tier;

#[tokio::test]
async fn the_tier_a_value_came_from() {
    let redis = test_redis();
    let mut config = config(&redis.url());
    config.l1_ttl = Duration::from_millis(200);
    let (a, b) = (cache(config.clone()).await, cache(config).await);
    a.set("k", &5u32)
        .ttl(Duration::from_secs(60))
        .await
        .unwrap();

    let on_writer = a.get::<u32>("k").with_meta().await.unwrap().unwrap();
    assert_eq!((on_writer.value, on_writer.source.tier()), (5, Tier::L1));
    let on_other = b.get::<u32>("k").with_meta().await.unwrap().unwrap();
    assert_eq!((on_other.value, on_other.source.tier()), (5, Tier::L2));
    let again = b.get::<u32>("k").with_meta().await.unwrap().unwrap();
    assert_eq!(again.source.tier(), Tier::L1, "the L2 read filled B's L1");
    assert_eq!(
        again.meta, on_writer.meta,
        "one entry, one timeline, on both instances"
    );

    tokio::time::sleep(Duration::from_millis(250)).await;
    let rechecked = a.get::<u32>("k").with_meta().await.unwrap().unwrap();
    assert_eq!(
        rechecked.source.tier(),
        Tier::L2,
        "past l1_ttl the copy is checked against Redis"
    );
    let skipped = b
        .get::<u32>("k")
        .skip_l1()
        .with_meta()
        .await
        .unwrap()
        .unwrap();
    assert_eq!(skipped.source.tier(), Tier::L2);
}
