// No `key`: the default key is the function's path, its type parameters' names and its
// arguments written by their `Serialize`. A generic function is fine because the default key
// covers `T`.

#[cached(ttl = 60)]
async fn decode<T>(name: String, version: u32) -> T
where
    T: Clone + serde::Serialize + serde::de::DeserializeOwned + Send + Sync + 'static,
{
    load_blob(&name, version).await
}

#[cached]
async fn feature_flags() -> Flags {
    Flags::load().await
}
