// How keys are built. In a template every value is percent-escaped: `%` and the separators (here
// `:` and `/`, the first character after each placeholder); `{self}` uses `Self: Display`, a
// spec formats first and escapes after; type and const parameters are written as they are.
// An associated function without `self` keeps the default key: `Self`'s type name, the
// function, and the arguments' `Serialize`.

impl Tenant {
    #[cached(key = "blob:{self}:{T}:{N}/{name:>8}", cache = self.cache)]
    async fn blob<T, const N: usize>(&self, name: &str) -> Option<T>
    where
        T: Clone + serde::Serialize + serde::de::DeserializeOwned + Send + Sync + 'static,
    {
        self.store.load(name, N).await
    }

    #[cached(cache = directory)]
    async fn lookup(name: &str, page: Page) -> Option<Self> {
        Tenant::find(name, page).await
    }
}
