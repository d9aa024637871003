use crate::model::Collection;

pub(super) fn render(_c: &Collection, _out: &mut String) {}
