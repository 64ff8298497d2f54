//! ReplicaSets as a Deployment's revisions: the template hash that names them, the
//! annotations that order and describe them, and which ones history keeps.

use std::sync::Arc;

use orchestra_core::ResourceExt;
use orchestra_core::kinds::{PodTemplateSpec, ReplicaSet};

use crate::stable_hash::stable_hash;

/// The label (on the ReplicaSet, its selector and its pods) carrying the template hash.
pub const POD_TEMPLATE_HASH: &str = "pod-template-hash";
/// The annotation carrying a ReplicaSet's revision number, and on the Deployment the
/// revision of its current template.
pub const REVISION_ANNOTATION: &str = "deployment.kubernetes.io/revision";
/// The annotation recording the Deployment size a ReplicaSet was last scaled for; a
/// mismatch means the Deployment was scaled, not updated.
pub const DESIRED_REPLICAS_ANNOTATION: &str = "deployment.kubernetes.io/desired-replicas";
/// The annotation saying why a revision was made (`kubectl rollout history` shows it).
/// The user sets it on the Deployment; the controller copies it onto the ReplicaSet of
/// the current template, and a rollback brings the restored revision's back.
pub const CHANGE_CAUSE_ANNOTATION: &str = "kubernetes.io/change-cause";

/// A short, stable hash of a pod template (and the collision count), in Kubernetes'
/// alphabet so it is safe in names and label values.
pub fn template_hash(template: &PodTemplateSpec, collision_count: i32) -> String {
    // A built-in type, not a user's: plain fields, string-keyed maps, and quantities and
    // times written as strings, none of which can fail to serialize.
    let bytes = serde_json::to_vec(template)
        .expect("a PodTemplateSpec always serializes: it has no fallible Serialize");
    let mut hash = stable_hash(&[&bytes, &collision_count.to_le_bytes()]);
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut out = String::new();
    for _ in 0..10 {
        out.push(ALPHABET[(hash % ALPHABET.len() as u64) as usize] as char);
        hash /= ALPHABET.len() as u64;
    }
    out
}

/// `template` without the hash label, for comparing a ReplicaSet's template with the
/// Deployment's.
pub fn without_hash(template: &PodTemplateSpec) -> PodTemplateSpec {
    let mut t = template.clone();
    if let Some(meta) = t.metadata.as_mut() {
        meta.labels.remove(POD_TEMPLATE_HASH);
    }
    t
}

/// The revision of a ReplicaSet (0 when it has none).
pub fn revision(rs: &ReplicaSet) -> u64 {
    rs.metadata
        .annotations
        .get(REVISION_ANNOTATION)
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

/// The ReplicaSet whose template is `template` (the "new" one), if any; the oldest wins
/// if several match, as in Kubernetes.
pub fn find_new<'a>(
    template: &PodTemplateSpec,
    rss: &'a [Arc<ReplicaSet>],
) -> Option<&'a Arc<ReplicaSet>> {
    rss.iter()
        .filter(|rs| without_hash(&rs.spec.template) == *template)
        .min_by_key(|rs| (rs.metadata.creation_timestamp, rs.name_any().to_owned()))
}

/// Old ReplicaSets to delete so at most `limit` scaled-to-zero ones remain, oldest
/// revision first. ReplicaSets with replicas or pods are never deleted.
pub fn history_to_delete(old: &[Arc<ReplicaSet>], limit: i32) -> Vec<Arc<ReplicaSet>> {
    let mut idle: Vec<&Arc<ReplicaSet>> = old
        .iter()
        .filter(|rs| rs.replicas() == 0 && rs.status.as_ref().is_none_or(|s| s.replicas == 0))
        .filter(|rs| rs.metadata.deletion_timestamp.is_none())
        .collect();
    let excess = idle.len().saturating_sub(limit.max(0) as usize);
    idle.sort_by_key(|rs| (revision(rs), rs.metadata.creation_timestamp));
    idle.into_iter().take(excess).cloned().collect()
}

/// The ReplicaSet a rollback restores: `to_revision`, or the newest one before the
/// current revision.
pub fn rollback_target(
    rss: &[Arc<ReplicaSet>],
    current: u64,
    to_revision: Option<u64>,
) -> Option<&Arc<ReplicaSet>> {
    match to_revision {
        Some(wanted) => rss.iter().find(|rs| revision(rs) == wanted),
        None => rss
            .iter()
            .filter(|rs| revision(rs) < current)
            .max_by_key(|rs| revision(rs)),
    }
}

#[cfg(test)]
mod tests {
    use orchestra_core::ObjectMeta;

    use super::*;

    fn template(image: &str) -> PodTemplateSpec {
        let mut t = PodTemplateSpec::default();
        t.spec.containers.push(orchestra_core::kinds::Container {
            name: "c".into(),
            image: image.into(),
            ..Default::default()
        });
        t
    }

    fn rs_at(revision: u64, replicas: i32) -> Arc<ReplicaSet> {
        let mut rs = ReplicaSet {
            metadata: ObjectMeta::named(format!("rs-{revision}")),
            ..Default::default()
        };
        rs.metadata
            .annotations
            .insert(REVISION_ANNOTATION.into(), revision.to_string());
        rs.spec.replicas = Some(replicas);
        Arc::new(rs)
    }

    #[test]
    fn hashes_are_stable_and_differ_by_template_and_collisions() {
        let a = template_hash(&template("web:1"), 0);
        assert_eq!(a, template_hash(&template("web:1"), 0));
        assert_eq!(a.len(), 10);
        assert_ne!(a, template_hash(&template("web:2"), 0));
        assert_ne!(a, template_hash(&template("web:1"), 1));
        orchestra_core::validation::validate_label_value(&a).unwrap();
    }

    #[test]
    fn history_keeps_the_newest_idle_revisions() {
        let rss = vec![rs_at(1, 0), rs_at(2, 0), rs_at(3, 2), rs_at(4, 0)];
        let doomed: Vec<u64> = history_to_delete(&rss, 1)
            .iter()
            .map(|r| revision(r))
            .collect();
        assert_eq!(
            doomed,
            [1, 2],
            "revision 3 has replicas; 4 is kept by the limit"
        );
        assert!(history_to_delete(&rss, 10).is_empty());
    }

    #[test]
    fn rollback_picks_the_previous_or_the_named_revision() {
        let rss = vec![rs_at(1, 0), rs_at(2, 0), rs_at(3, 3)];
        assert_eq!(rollback_target(&rss, 3, None).map(|r| revision(r)), Some(2));
        assert_eq!(
            rollback_target(&rss, 3, Some(1)).map(|r| revision(r)),
            Some(1)
        );
        assert!(rollback_target(&rss, 3, Some(9)).is_none());
        assert!(rollback_target(&rss[..1], 1, None).is_none());
    }
}
