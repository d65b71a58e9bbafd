//! The warning of an entry that does not decode names the Rust type and the codec. Alone in its
//! test binary: `tracing` caches per call site whether anyone listens, and a test on another
//! thread reaching the same call site before this one's subscriber is set could leave it
//! unheard.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

use common::memory_l2::MemoryL2;
use serde::{Deserialize, Serialize};
use tiered_cache_core::CacheConfig;
use tiered_cache_core::codec::CodecKind;
use tiered_cache_core::envelope::{self, fingerprint_for};

mod v1 {
    use super::*;

    #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
    pub struct Report {
        pub id: u64,
        pub title: String,
    }
}

mod v2 {
    use super::*;

    #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
    pub struct Report {
        pub id: u64,
        pub title: String,
        #[serde(default)]
        pub pages: Option<u32>,
    }
}

/// Log lines written while a test runs.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn an_entry_that_does_not_decode_is_a_counted_miss_whose_warning_names_type_and_codec() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let l2 = MemoryL2::default();
    let config = CacheConfig {
        codec: CodecKind::Bincode,
        ..Default::default()
    };
    let old = l2.cache(config.clone()).await;
    let new = l2.cache(config).await;
    old.set(
        "report",
        &v1::Report {
            id: 1,
            title: "t".into(),
        },
    )
    .await
    .expect("set");
    let mut bytes = l2.raw("default", "report").expect("stored").to_vec();
    let at = envelope::CREATED_OFFSET + 32;
    bytes[at..at + 8]
        .copy_from_slice(&fingerprint_for::<v2::Report>(CodecKind::Bincode).to_be_bytes());
    l2.put_raw("default", "report", bytes);

    assert_eq!(new.get::<v2::Report>("report").await.expect("get"), None);
    assert_eq!(new.stats().l2_stats.decode_errors, 1);
    let logs = String::from_utf8_lossy(&captured.0.lock().unwrap_or_else(PoisonError::into_inner))
        .into_owned();
    assert!(
        logs.contains("value_type=\"codec_warnings::v2::Report\""),
        "{logs}"
    );
    assert!(logs.contains("codec=\"bincode\""), "{logs}");
}
