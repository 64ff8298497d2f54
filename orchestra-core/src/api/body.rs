//! [`ObjectBody`]: one object as it crosses the seam between a client and the object
//! service — JSON from a wire, or the typed value itself inside one process.
//!
//! Over HTTP an object is JSON. Inside one process that would cost an encode and a
//! decode on each side of every call for nothing, so a body may also hold the typed
//! object: a client passes its `K` in, the registry takes the same `K` out, and the
//! reply travels back the same way. Either end reads the body as whatever type it
//! wants; when that is not the type inside, the body goes through JSON, so the fast
//! path is an optimisation and never a difference in meaning.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;

use crate::meta::ObjectMeta;
use crate::resource::Resource;

/// One encoded object: JSON (with `apiVersion`, `kind` and `metadata`), or a typed
/// object that encodes to that JSON.
pub struct ObjectBody(Repr);

enum Repr {
    Typed(Box<dyn TypedObject>),
    Json(Bytes),
}

/// A typed object inside a body: it can say what it is and encode itself.
trait TypedObject: Send + Sync {
    fn into_any(self: Box<Self>) -> Box<dyn Any>;
    fn as_any(&self) -> &dyn Any;
    fn encode(&self) -> Result<Vec<u8>, serde_json::Error>;
    fn meta(&self) -> &ObjectMeta;
    fn kind(&self) -> &'static str;
}

impl<K: Resource> TypedObject for K {
    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn encode(&self) -> Result<Vec<u8>, serde_json::Error> {
        encode_with_type(self)
    }

    fn meta(&self) -> &ObjectMeta {
        Resource::meta(self)
    }

    fn kind(&self) -> &'static str {
        K::KIND
    }
}

impl<K: Resource> TypedObject for Arc<K> {
    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn encode(&self) -> Result<Vec<u8>, serde_json::Error> {
        encode_with_type(&**self)
    }

    fn meta(&self) -> &ObjectMeta {
        Resource::meta(&**self)
    }

    fn kind(&self) -> &'static str {
        K::KIND
    }
}

impl ObjectBody {
    /// A body holding `obj` itself.
    pub fn from_object<K: Resource>(obj: K) -> ObjectBody {
        ObjectBody(Repr::Typed(Box::new(obj)))
    }

    /// A body sharing `obj`: in one process, every reader of the body shares the one
    /// object (an owned read clones it only if others still hold it).
    pub fn from_shared<K: Resource>(obj: Arc<K>) -> ObjectBody {
        ObjectBody(Repr::Typed(Box::new(obj)))
    }

    /// A body of JSON bytes (not checked until read).
    pub fn from_json(json: impl Into<Bytes>) -> ObjectBody {
        ObjectBody(Repr::Json(json.into()))
    }

    /// The object as a `K`: the value itself when the body holds a `K`, otherwise
    /// decoded from the body's JSON.
    pub fn into_object<K: Resource>(self) -> Result<K, serde_json::Error> {
        match self.0 {
            Repr::Typed(typed) => {
                if typed.as_any().is::<K>() {
                    let any = typed.into_any();
                    return Ok(*any.downcast::<K>().expect("checked with is::<K>"));
                }
                if typed.as_any().is::<Arc<K>>() {
                    let any = typed.into_any();
                    let shared = *any.downcast::<Arc<K>>().expect("checked with is::<Arc<K>>");
                    return Ok(Arc::try_unwrap(shared).unwrap_or_else(|shared| (*shared).clone()));
                }
                serde_json::from_slice(&typed.encode()?)
            }
            Repr::Json(json) => serde_json::from_slice(&json),
        }
    }

    /// The object as a shared `K`: the body's own when it shares one (no copy),
    /// otherwise as [`into_object`](Self::into_object) gives it.
    pub fn into_shared<K: Resource>(self) -> Result<Arc<K>, serde_json::Error> {
        if let Repr::Typed(typed) = &self.0 {
            if typed.as_any().is::<Arc<K>>() {
                let Repr::Typed(typed) = self.0 else {
                    unreachable!("matched above")
                };
                return Ok(*typed
                    .into_any()
                    .downcast::<Arc<K>>()
                    .expect("checked with is::<Arc<K>>"));
            }
        }
        self.into_object().map(Arc::new)
    }

    /// The object as a `K`, borrowed, when the body holds a `K`.
    pub fn as_object<K: Resource>(&self) -> Option<&K> {
        match &self.0 {
            Repr::Typed(typed) => {
                let any = typed.as_any();
                any.downcast_ref::<K>()
                    .or_else(|| any.downcast_ref::<Arc<K>>().map(|shared| &**shared))
            }
            Repr::Json(_) => None,
        }
    }

    /// The object's JSON, with `apiVersion` and `kind` first for a typed body.
    pub fn to_json(&self) -> Result<Bytes, serde_json::Error> {
        match &self.0 {
            Repr::Typed(typed) => typed.encode().map(Bytes::from),
            Repr::Json(json) => Ok(json.clone()),
        }
    }

    /// The object as a JSON value.
    pub fn to_value(&self) -> Result<serde_json::Value, serde_json::Error> {
        match &self.0 {
            Repr::Typed(typed) => serde_json::from_slice(&typed.encode()?),
            Repr::Json(json) => serde_json::from_slice(json),
        }
    }

    /// The object's metadata, decoded from the JSON when the body holds no typed
    /// object.
    pub fn meta(&self) -> Result<ObjectMeta, serde_json::Error> {
        match &self.0 {
            Repr::Typed(typed) => Ok(typed.meta().clone()),
            Repr::Json(json) => {
                #[derive(serde::Deserialize)]
                struct OnlyMeta {
                    #[serde(default)]
                    metadata: ObjectMeta,
                }
                serde_json::from_slice::<OnlyMeta>(json).map(|o| o.metadata)
            }
        }
    }
}

impl fmt::Debug for ObjectBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::Typed(typed) => f
                .debug_struct("ObjectBody")
                .field("kind", &typed.kind())
                .field("name", &typed.meta().name)
                .finish_non_exhaustive(),
            Repr::Json(json) => f
                .debug_struct("ObjectBody")
                .field("json_bytes", &json.len())
                .finish_non_exhaustive(),
        }
    }
}

/// Encodes `obj` as a JSON object with `apiVersion` and `kind` first.
pub(crate) fn encode_with_type<K: Resource>(obj: &K) -> Result<Vec<u8>, serde_json::Error> {
    let body = serde_json::to_vec(obj)?;
    if body.first() != Some(&b'{') {
        return Err(serde::ser::Error::custom(format!(
            "{} does not serialize to a JSON object",
            K::KIND
        )));
    }
    let mut out = Vec::with_capacity(body.len() + 64);
    out.extend_from_slice(b"{\"apiVersion\":");
    serde_json::to_writer(&mut out, K::API_VERSION)?;
    out.extend_from_slice(b",\"kind\":");
    serde_json::to_writer(&mut out, K::KIND)?;
    if body.len() > 2 {
        out.push(b',');
    }
    out.extend_from_slice(&body[1..]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::{Lease, Pod};

    #[test]
    fn a_typed_body_comes_out_as_the_same_value_or_through_json() {
        let mut lease = Lease {
            metadata: ObjectMeta::namespaced("default", "l"),
            ..Default::default()
        };
        lease.spec.holder_identity = Some("me".into());
        let back: Lease = ObjectBody::from_object(lease.clone())
            .into_object()
            .unwrap();
        assert_eq!(back, lease);
        let json = ObjectBody::from_object(lease.clone()).to_json().unwrap();
        assert!(
            json.starts_with(br#"{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","#),
            "{json:?}"
        );
        let back: Lease = ObjectBody::from_json(json).into_object().unwrap();
        assert_eq!(back, lease);
        // A shared body is the same object, not a copy.
        let shared = Arc::new(lease.clone());
        let again = ObjectBody::from_shared(shared.clone())
            .into_shared::<Lease>()
            .unwrap();
        assert!(Arc::ptr_eq(&shared, &again));
        let owned: Lease = ObjectBody::from_shared(shared).into_object().unwrap();
        assert_eq!(owned, lease);
        // Read as another type, a typed body goes through JSON.
        let as_pod: Pod = ObjectBody::from_object(lease.clone())
            .into_object()
            .unwrap();
        assert_eq!(as_pod.metadata, lease.metadata);
        assert_eq!(
            ObjectBody::from_json(r#"{"metadata":{"name":"x"}}"#)
                .meta()
                .unwrap()
                .name
                .as_deref(),
            Some("x")
        );
    }
}
