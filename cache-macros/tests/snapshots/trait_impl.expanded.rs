// The expansion of the file of the same name without `.expanded`, as `cargo expand` shows it.
// Regenerate with `UPDATE_SNAPSHOTS=1 cargo test -p tiered-cache-macros snapshots`.

impl Directory for Db {
    /// **Cached** with `#[cached]`: key `user:{self.tenant}:{id}`, namespace `default`, the cache's default ttl, the configured stale window, in `self.cache`.
    /// Concurrent calls with the same key share one run of the body; a stale entry is returned at once while one background refresh runs.
    /// Only `Ok` values are cached; an `Err` is not stored, and reaches every caller waiting on the same load when the error type is `Clone` (otherwise only the caller that ran the body; each waiting caller runs it too).
    /// A member of a trait impl has no companions (`in_trait_impl`); the cache's own API reads, invalidates or primes its entries.
    #[allow(clippy::used_underscore_binding)]
    async fn find(&self, id: u64, label: &str) -> Result<String, DbError> {
        static __CACHED_STATS: ::tiered_cache::FnStats = ::tiered_cache::__private::fn_stats();
        let __cached_body = |
            __cached_self: Self,
            __cached_arg_id: u64,
            __cached_arg_label: <str as ::tiered_cache::__private::BorrowedArg>::Owned|
        async move {
            let __cached_self = &__cached_self;
            let mut id = __cached_arg_id;
            let label: &str = ::core::borrow::Borrow::borrow(&__cached_arg_label);
            let __cached_ret: Result<String, DbError> = {
                id += 1;
                __cached_self.query(id, label).await
            };
            __cached_ret
        };
        let (__cached_ret, _) = {
            let __cached_cache = ::tiered_cache::__private::CacheSource::handle(
                &(self.cache),
            );
            let __cached_key = {
                let id = &id;
                let mut __cached_builder = ::tiered_cache::__private::key::Key::start(
                    "user:",
                    33,
                );
                __cached_builder.push_display(&self.tenant, ":");
                __cached_builder.push_str(":");
                __cached_builder.push_display(id, ":");
                __cached_builder.finish()
            };
            let __cached_stats = &__CACHED_STATS;
            ::tiered_cache::__private::register(
                __cached_stats,
                &__cached_cache,
                "default",
                "user:{}:{}",
                || ::tiered_cache::__private::Function {
                    owner: ::core::any::type_name::<Self>(),
                    name: "find",
                    value_type: ::core::any::type_name::<String>(),
                },
            );
            let __cached_loader = {
                let __cached_self = <Self as ::tiered_cache::__private::OwnedReceiver>::owned(
                    self,
                );
                let __cached_arg_id = <u64 as ::tiered_cache::__private::OwnedArg>::owned(
                    &id,
                );
                let __cached_arg_label = <str as ::tiered_cache::__private::BorrowedArg>::owned(
                    label,
                );
                move || {
                    ::tiered_cache::__private::loading(&__CACHED_STATS);
                    __cached_body(__cached_self, __cached_arg_id, __cached_arg_label)
                }
            };
            let __cached_read = <String as ::tiered_cache::__private::Stored>::load::<
                _,
                _,
                DbError,
            >(
                    __cached_cache
                        .get::<String>(&__cached_key)
                        .refresh_with(__cached_loader)
                        .wait_for_loader(),
                    {
                        use ::tiered_cache::__private::errors::{
                            ByClone as _, Unshared as _,
                        };
                        (&&::tiered_cache::__private::errors::Tag::<
                            Result<String, DbError>,
                        >::NEW)
                            .errors()
                    },
                )
                .await;
            match ::tiered_cache::__private::fallible::answer(
                __cached_read,
                __cached_stats,
            ) {
                ::core::option::Option::Some(__cached_answer) => __cached_answer,
                ::core::option::Option::None => {
                    (
                        ::tiered_cache::__private::out_of_line({
                                let __cached_self = <Self as ::tiered_cache::__private::OwnedReceiver>::owned(
                                    self,
                                );
                                let __cached_arg_id = <u64 as ::tiered_cache::__private::OwnedArg>::owned(
                                    &id,
                                );
                                let __cached_arg_label = <str as ::tiered_cache::__private::BorrowedArg>::owned(
                                    label,
                                );
                                __cached_body(
                                    __cached_self,
                                    __cached_arg_id,
                                    __cached_arg_label,
                                )
                            })
                            .await,
                        ::tiered_cache::__private::refused(__cached_stats),
                    )
                }
            }
        };
        __cached_ret
    }
}
