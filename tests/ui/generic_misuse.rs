use serde::{Serialize, de::DeserializeOwned};
use tiered_cache::cached;

// Without `{T}` in the key, `decode::<A>` and `decode::<B>` would share an entry.
#[cached(key = "blob:{name}")]
async fn decode<T>(name: String) -> Option<T>
where
    T: Clone + Serialize + DeserializeOwned + Send + Sync + 'static,
{
    let _ = name;
    None
}

#[cached(key = "show:{value}")]
async fn show(value: impl std::fmt::Display) -> String {
    value.to_string()
}

fn main() {}
