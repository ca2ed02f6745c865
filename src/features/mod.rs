//! Parquet storage of observations and runs (design.md, storage).
