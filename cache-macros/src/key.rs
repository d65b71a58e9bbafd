//! Key templates: `"product:{id}"`, `"user:{self.tenant}:{id}"`, `"{{literal}}"`.
//!
//! The syntax is Rust's own format syntax restricted to names: a placeholder is an argument
//! (or `self`, or a generic parameter), optionally followed by `.field` steps and a format spec
//! after `:` (`{id:08}`, `{filter:?}`); `{{` and `}}` stand for braces. Which names exist is
//! checked in `valid`; this module only reads the template.

use syn::LitStr;

/// A parsed key template.
pub(crate) struct Template {
    pub(crate) lit: LitStr,
    pub(crate) parts: Vec<Part>,
}

/// A piece of a template.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Part {
    /// Text copied into the key (braces already unescaped).
    Text(String),
    Hole(Hole),
}

/// `{root.field.field:spec}`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Hole {
    pub(crate) root: String,
    pub(crate) fields: Vec<String>,
    /// The format spec after `:`, empty for `Display`.
    pub(crate) spec: String,
}

impl Template {
    pub(crate) fn parse(lit: &LitStr) -> syn::Result<Self> {
        let parts = parse_parts(&lit.value())
            .map_err(|message| syn::Error::new(lit.span(), format!("#[cached(key)] {message}")))?;
        if parts.is_empty() {
            return Err(syn::Error::new(
                lit.span(),
                "#[cached(key)] is empty; write a template such as \"product:{id}\", or leave \
                 `key` out for the default key",
            ));
        }
        Ok(Template {
            lit: lit.clone(),
            parts,
        })
    }

    pub(crate) fn holes(&self) -> impl Iterator<Item = &Hole> {
        self.parts.iter().filter_map(|part| match part {
            Part::Hole(hole) => Some(hole),
            Part::Text(_) => None,
        })
    }

    /// Names written as `<name>` in the literal text (another template syntax).
    pub(crate) fn angle_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        for part in &self.parts {
            let Part::Text(text) = part else { continue };
            let mut rest = text.as_str();
            while let Some(open) = rest.find('<') {
                rest = &rest[open + 1..];
                if let Some(close) = rest.find('>') {
                    let name = &rest[..close];
                    if is_name(name) {
                        names.push(name.to_owned());
                    }
                }
            }
        }
        names
    }
}

fn parse_parts(template: &str) -> Result<Vec<Part>, String> {
    let mut parts = Vec::new();
    let mut text = String::new();
    let mut chars = template.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        match c {
            '{' if chars.peek().is_some_and(|&(_, next)| next == '{') => {
                chars.next();
                text.push('{');
            }
            '}' if chars.peek().is_some_and(|&(_, next)| next == '}') => {
                chars.next();
                text.push('}');
            }
            '}' => {
                return Err(format!(
                    "has an unmatched `}}` at byte {at}; write `}}}}` for a brace"
                ));
            }
            '{' => {
                let body_start = at + 1;
                let close = template[body_start..].find('}').ok_or_else(|| {
                    format!("has an unclosed `{{` at byte {at}; write `{{{{` for a brace")
                })?;
                let body = &template[body_start..body_start + close];
                if !text.is_empty() {
                    parts.push(Part::Text(std::mem::take(&mut text)));
                }
                parts.push(Part::Hole(parse_hole(body)?));
                while chars.peek().is_some_and(|&(i, _)| i <= body_start + close) {
                    chars.next();
                }
            }
            other => text.push(other),
        }
    }
    if !text.is_empty() {
        parts.push(Part::Text(text));
    }
    Ok(parts)
}

fn parse_hole(body: &str) -> Result<Hole, String> {
    let (path, spec) = match body.split_once(':') {
        Some((path, spec)) => (path, spec.to_owned()),
        None => (body, String::new()),
    };
    if path.is_empty() {
        return Err(format!(
            "has an empty placeholder `{{{body}}}`; name an argument, e.g. `{{id}}`"
        ));
    }
    if path.contains('{') {
        return Err(format!("has a `{{` inside the placeholder `{{{body}}}`"));
    }
    let mut steps = path.split('.');
    let root = steps.next().unwrap_or_default();
    if !is_name(root) {
        return Err(format!(
            "placeholder `{{{body}}}` must start with an argument name (no spaces, no \
             expressions)"
        ));
    }
    let fields: Vec<String> = steps.map(str::to_owned).collect();
    if let Some(bad) = fields.iter().find(|f| !is_name(f) && !is_index(f)) {
        return Err(format!(
            "placeholder `{{{body}}}` has `.{bad}`, which is not a field name; placeholders \
             reach fields (`{{arg.field}}`), not methods or expressions"
        ));
    }
    Ok(Hole {
        root: root.to_owned(),
        fields,
        spec,
    })
}

/// A Rust identifier (raw ones included).
pub(crate) fn is_name(s: &str) -> bool {
    let s = s.strip_prefix("r#").unwrap_or(s);
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c == '_' || c.is_alphabetic())
        && chars.all(|c| c == '_' || c.is_alphanumeric())
}

fn is_index(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hole(root: &str, fields: &[&str], spec: &str) -> Part {
        Part::Hole(Hole {
            root: root.into(),
            fields: fields.iter().map(|f| (*f).to_owned()).collect(),
            spec: spec.into(),
        })
    }

    fn text(s: &str) -> Part {
        Part::Text(s.into())
    }

    #[test]
    fn templates_split_into_text_and_holes() {
        assert_eq!(
            parse_parts("product:{product_id}").expect("valid"),
            vec![text("product:"), hole("product_id", &[], "")]
        );
        assert_eq!(
            parse_parts("{self.tenant}:{q.filter.0:?}{{x}}").expect("valid"),
            vec![
                hole("self", &["tenant"], ""),
                text(":"),
                hole("q", &["filter", "0"], "?"),
                text("{x}"),
            ]
        );
        assert_eq!(
            parse_parts("{id:08}").expect("valid"),
            vec![hole("id", &[], "08")]
        );
        assert_eq!(parse_parts("plain").expect("valid"), vec![text("plain")]);
    }

    #[test]
    fn malformed_templates_are_explained() {
        assert!(parse_parts("a}b").unwrap_err().contains("unmatched `}`"));
        assert!(parse_parts("a{b").unwrap_err().contains("unclosed `{`"));
        assert!(
            parse_parts("a{}")
                .unwrap_err()
                .contains("empty placeholder")
        );
        assert!(
            parse_parts("{ id }")
                .unwrap_err()
                .contains("must start with")
        );
        assert!(
            parse_parts("{id.len()}")
                .unwrap_err()
                .contains("not a field name")
        );
    }

    #[test]
    fn angle_names_are_found_in_text_only() {
        let lit = LitStr::new(
            "product:<id>:{x}:<not a name>",
            proc_macro2::Span::call_site(),
        );
        let template = Template::parse(&lit).expect("valid");
        assert_eq!(template.angle_names(), vec!["id".to_owned()]);
    }
}
