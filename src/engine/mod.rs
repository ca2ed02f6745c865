//! Training engine on libtorch (method.md §6–§7).
