// `in_trait_impl`: a method of a trait impl, which has room for no other item, so the body moves
// into a closure inside the method (`self` renamed) and there are no companions.

impl Directory for Db {
    #[cached(key = "user:{self.tenant}:{id}", in_trait_impl, cache = self.cache)]
    async fn find(&self, mut id: u64, label: &str) -> Result<String, DbError> {
        id += 1;
        self.query(id, label).await
    }
}
