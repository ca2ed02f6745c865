//! Classifier stage (method.md §2–§4): reads feature tables, fits and evaluates classifiers.
