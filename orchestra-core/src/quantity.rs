//! Resource quantities (`500m` cpu, `128Mi` memory) with exact integer arithmetic.

use serde::{Deserialize, Serialize};

/// A resource amount such as `500m`, `2`, `128Mi` or `1G`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Quantity(pub String);
