//! Mixed traffic for fault tests: callers that loop over a few keys on one or more instances
//! until stopped, every `write_every`-th call a `set` and the rest read-throughs, counting what
//! each call returned.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use tiered_cache::TieredCache;

/// The shape of the traffic.
#[derive(Clone, Copy, Debug)]
pub struct Traffic {
    /// Concurrent callers, spread round robin over the instances.
    pub callers: u64,
    /// Keys `k0..k{keys}`.
    pub keys: u64,
    /// Every n-th call of a caller is a `set`.
    pub write_every: u64,
    /// The ttl of every write and load (the cache's default when `None`).
    pub ttl: Option<Duration>,
}

/// Running traffic; [`MixedLoad::stop`] ends it.
pub struct MixedLoad {
    stop: Arc<AtomicBool>,
    /// Calls that returned `Ok`.
    pub served: Arc<AtomicUsize>,
    /// Calls that returned an error (a fault test expects none).
    pub errors: Arc<AtomicUsize>,
    /// Loader runs.
    pub loads: Arc<AtomicUsize>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl MixedLoad {
    /// Starts `traffic` on `caches`.
    pub fn start(caches: &[TieredCache], traffic: Traffic) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let served = Arc::new(AtomicUsize::new(0));
        let errors = Arc::new(AtomicUsize::new(0));
        let loads = Arc::new(AtomicUsize::new(0));
        let tasks = (0..traffic.callers)
            .map(|caller| {
                let cache = caches[caller as usize % caches.len()].clone();
                let (stop, served, errors, loads) =
                    (stop.clone(), served.clone(), errors.clone(), loads.clone());
                tokio::spawn(async move {
                    let mut i = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        i += 1;
                        let key = format!("k{}", (caller * 7 + i) % traffic.keys);
                        // `is_multiple_of` is newer than the facade's MSRV (1.85), whose
                        // tests share this file with the bench (MSRV 1.92).
                        #[allow(clippy::manual_is_multiple_of)]
                        let ok = if i % traffic.write_every == 0 {
                            let mut set = cache.set(&key, &i);
                            if let Some(ttl) = traffic.ttl {
                                set = set.ttl(ttl);
                            }
                            set.await.is_ok()
                        } else {
                            let loads = loads.clone();
                            let mut read = cache.get(&key).refresh_with(move || async move {
                                loads.fetch_add(1, Ordering::SeqCst);
                                Ok::<_, String>(i)
                            });
                            if let Some(ttl) = traffic.ttl {
                                read = read.ttl(ttl);
                            }
                            read.await.is_ok()
                        };
                        let counter = if ok { &served } else { &errors };
                        counter.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(2)).await;
                    }
                })
            })
            .collect();
        MixedLoad {
            stop,
            served,
            errors,
            loads,
            tasks,
        }
    }

    /// Stops every caller and waits for them; returns the calls that failed.
    pub async fn stop(self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            task.await.expect("no caller panicked");
        }
        self.errors.load(Ordering::SeqCst)
    }
}
