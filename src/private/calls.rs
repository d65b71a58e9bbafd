//! What a `#[cached]` expansion records about its calls: its [`FnStats`] and, once, the key
//! shape it registers to find functions that share entries (see `registry`).

use std::sync::atomic::Ordering;

use crate::{CallMeta, FnStats, TieredCache};

/// The counters of one function, for the `static` in its `{fn}_stats()` companion.
pub const fn fn_stats() -> FnStats {
    FnStats::new()
}

/// A function's identity for [`register`]: its path and name, and the type it stores.
pub struct Function {
    /// `module_path!()`, or `type_name::<Self>()` for an associated function.
    pub owner: &'static str,
    /// The function's name.
    pub name: &'static str,
    /// `type_name` of the stored value.
    pub value_type: &'static str,
}

/// On the function's first call: registers the shape of its keys (`"product:{}"`) in
/// `namespace` of `cache`, and warns once when another function already builds the same keys.
/// Afterwards one relaxed load.
#[inline]
pub fn register(
    stats: &FnStats,
    cache: &TieredCache,
    namespace: &str,
    shape: &'static str,
    function: fn() -> Function,
) {
    if !stats.registered.load(Ordering::Relaxed) {
        register_first(stats, cache, namespace, shape, function());
    }
}

#[cold]
#[inline(never)]
fn register_first(
    stats: &FnStats,
    cache: &TieredCache,
    namespace: &str,
    shape: &'static str,
    function: Function,
) {
    // Two first calls at once may both register; the registry ignores a function's own entry.
    if stats.registered.swap(true, Ordering::Relaxed) {
        return;
    }
    let path = format!("{}::{}", function.owner, function.name);
    let clashes =
        super::registry::register(cache, namespace, shape, path.clone(), function.value_type);
    super::registry::warn(&clashes, &path, namespace, shape, function.value_type);
}

/// Counts a call that a load answered with a value from `source`.
#[inline]
pub(crate) fn served(stats: &FnStats, source: crate::Source) -> CallMeta {
    stats.count_call(source.was_cached());
    CallMeta::served(source)
}

/// Counts a call whose answer did not pass through the cache (an error, a refusal).
#[inline]
pub fn uncached(stats: &FnStats) -> CallMeta {
    stats.count_call(false);
    CallMeta::uncached()
}

/// Counts a run of the body by the cache (a load, a refresh, a caller running it itself).
#[inline]
pub fn loading(stats: &FnStats) {
    stats.count_load();
}

/// A call the cache refused runs the body itself: a miss and a load.
pub fn refused(stats: &FnStats) -> CallMeta {
    loading(stats);
    uncached(stats)
}
