//! Observables at checkpoints (method.md §1, §5): measures, functions, statistics, realism.
