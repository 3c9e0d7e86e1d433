"""Getting knowledge in: loaders, splitting articles into retrievable units, the article store, indexing."""
