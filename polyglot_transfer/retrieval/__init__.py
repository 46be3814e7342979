"""Documents -> embedder -> FAISS index -> retriever (langchain-core) -> predictions or prompts."""
