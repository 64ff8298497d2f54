//! The built-in kinds, with Kubernetes' names and JSON shapes.
