//! Key templates: `"product:{id}"`, `"user:{self.tenant}:{id}"`, `"{{literal}}"`.
//!
//! The syntax is Rust's own format syntax restricted to names: a placeholder is an argument
//! (or `self`, or a generic parameter), optionally followed by `.field` steps and a format spec
//! after `:` (`{id:08}`, `{filter:?}`); `{{` and `}}` stand for braces. Which names exist is
//! checked in `valid`; this module reads the template, refuses placeholders with nothing between
//! them, and computes the characters every value escapes (see [`Template::separators`]).

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
        if let Some([Part::Hole(a), Part::Hole(b)]) = parts
            .windows(2)
            .find(|pair| matches!(pair, [Part::Hole(_), Part::Hole(_)]))
        {
            let (a, b) = (a.written(), b.written());
            return Err(syn::Error::new(
                lit.span(),
                format!(
                    "#[cached(key)] has `{a}{b}`, two placeholders with nothing between them; \
                     separate them with a literal character such as `:` (`{a}:{b}`): a key is \
                     unambiguous only when a separator shows where one value ends"
                ),
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

    /// The characters escaped inside every interpolated value (besides `%`, which always is):
    /// the first character of each piece of literal text that follows a placeholder. No value
    /// then contains the character that starts the text after it, so a key splits back into its
    /// values in one way only: left to right, each value ending at the first such character.
    /// Other characters of the literal text need no escaping, and stay readable in values.
    pub(crate) fn separators(&self) -> String {
        let mut set = String::new();
        for pair in self.parts.windows(2) {
            if let [Part::Hole(_), Part::Text(text)] = pair {
                let first = text
                    .chars()
                    .next()
                    .filter(|&c| c != '%' && !set.contains(c));
                set.extend(first);
            }
        }
        set
    }

    /// Bytes of literal text after the first piece, plus a guess per value: the key's capacity
    /// beyond its first piece, so building it rarely reallocates.
    pub(crate) fn extra_capacity(&self) -> usize {
        let skip = usize::from(matches!(self.parts.first(), Some(Part::Text(_))));
        self.parts
            .iter()
            .skip(skip)
            .map(|part| match part {
                Part::Text(text) => text.len(),
                Part::Hole(_) => VALUE_CAPACITY,
            })
            .sum()
    }

    /// The shape of the keys: the literal text with each placeholder as `{}`. Two templates
    /// of the same shape build the same key from the same values (`"product:{id}"` and
    /// `"product:{product_id}"` are both `product:{}`).
    pub(crate) fn shape(&self) -> String {
        self.parts
            .iter()
            .map(|part| match part {
                Part::Text(text) => text.as_str(),
                Part::Hole(_) => "{}",
            })
            .collect()
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

/// The bytes a key reserves for one value (a `u64` has at most 20 digits; most values are ids).
pub(crate) const VALUE_CAPACITY: usize = 16;

impl Hole {
    /// The placeholder as written in the template.
    fn written(&self) -> String {
        let mut text = format!("{{{}", self.root);
        for field in &self.fields {
            text.push('.');
            text.push_str(field);
        }
        if !self.spec.is_empty() {
            text.push(':');
            text.push_str(&self.spec);
        }
        text.push('}');
        text
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

    fn template(text: &str) -> syn::Result<Template> {
        Template::parse(&LitStr::new(text, proc_macro2::Span::call_site()))
    }

    #[test]
    fn separators_are_the_first_character_after_each_placeholder() {
        let separators = |text: &str| template(text).expect("valid").separators();
        // The templates of the facade's tests (`src/private/key_tests.rs`).
        assert_eq!(separators("{tenant}:{id}"), ":");
        assert_eq!(separators("tenant:{tenant}:{id}"), ":");
        assert_eq!(separators("{a}-x-{b}:{c}"), "-:");
        assert_eq!(separators("geo:{{{ip}}}"), "}");
        assert_eq!(separators("{a}é{b}"), "é");
        // The leading text and the rest of each piece need no escaping; `%` always is.
        assert_eq!(separators("user:{id}:profile"), ":");
        assert_eq!(separators("product:{product_id}"), "");
        assert_eq!(separators("{a}%{b}"), "");
        assert_eq!(separators("{a}:{b}:{c}/{d}"), ":/");
    }

    #[test]
    fn placeholders_need_text_between_them() {
        let error = template("user:{tenant}{id:?}").err().expect("refused");
        let message = error.to_string();
        assert!(message.contains("`{tenant}{id:?}`"), "{message}");
        assert!(message.contains("`{tenant}:{id:?}`"), "{message}");
        assert!(
            template("{tenant}{{{id}").is_ok(),
            "a literal brace separates"
        );
    }

    #[test]
    fn capacity_counts_text_after_the_start_and_a_guess_per_value() {
        let extra = |text: &str| template(text).expect("valid").extra_capacity();
        assert_eq!(extra("product:{id}"), VALUE_CAPACITY);
        assert_eq!(extra("{a}:{b}!"), 2 * VALUE_CAPACITY + 2);
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
