// A `&self` method: its key names what identifies `self` (without `key` a method is a compile
// error), the cache is a field, and `None` is not cached.

impl UserRepo {
    /// A user of this repository's tenant.
    #[cached(key = "user:{self.tenant}:{id}", namespace = "users", cache = self.cache)]
    pub async fn find(&self, id: u64) -> Option<User> {
        self.db.find_user(&self.tenant, id).await
    }
}
