//! Parameter names: wrapper prefixes (`module.`, `model.`) and the RC-MAE branches (`student.*`, `teacher.*`).

use super::*;

// Names.
// ---------------------------------------------------------------------------------------------

/// Strips leading `module.` (DistributedDataParallel) and `model.` wrappers, in any order.
pub(crate) fn strip_wrappers(mut name: &str) -> &str {
    while let Some(rest) = name
        .strip_prefix("module.")
        .or_else(|| name.strip_prefix("model."))
    {
        name = rest;
    }
    name
}

/// The RC-MAE branch of a key (after any wrappers) and the rest of the key.
pub(crate) fn split_branch(name: &str) -> Option<(Branch, &str)> {
    let name = strip_wrappers(name);
    if let Some(rest) = name.strip_prefix("student.") {
        Some((Branch::Student, rest))
    } else {
        name.strip_prefix("teacher.")
            .map(|rest| (Branch::Teacher, rest))
    }
}

/// Which half to take: the requested (default teacher) when both are present, the only one
/// present otherwise, none when the file has no branch prefixes.
pub(crate) fn select_branch(
    tensors: &[RawTensor<'_>],
    requested: Option<Branch>,
) -> Result<Option<Branch>, CheckpointError> {
    let has = |b: Branch| {
        tensors
            .iter()
            .any(|t| split_branch(&t.name).is_some_and(|(found, _)| found == b))
    };
    let (student, teacher) = (has(Branch::Student), has(Branch::Teacher));
    let only = match (student, teacher) {
        (true, true) => return Ok(Some(requested.unwrap_or(Branch::Teacher))),
        (false, false) => return Ok(None),
        (true, false) => Branch::Student,
        (false, true) => Branch::Teacher,
    };
    match requested {
        Some(r) if r != only => Err(CheckpointError::BranchMissing {
            requested: r,
            found: only,
        }),
        _ => Ok(Some(only)),
    }
}
