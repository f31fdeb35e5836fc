//! The part of Go's `html/template` that Cloudreve's mail templates use:
//! text, `{{ .Field.Path }}` (HTML-escaped), `{{if …}}…{{else}}…{{end}}`,
//! `{{/* comments */}}` and the `{{-`/`-}}` trim markers. HTML comments are
//! dropped from the output, as `html/template` drops them. Anything else is
//! an error, never a guess: the caller then falls back to pwreset's own template.

use thiserror::Error;

/// Why a template cannot be rendered.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TemplateError {
    /// An action this renderer does not implement (`range`, pipelines, functions, …).
    #[error("unsupported action {{{{{0}}}}}")]
    Unsupported(String),
    /// `{{` without `}}`, or `if`/`else`/`end` out of place.
    #[error("malformed template: {0}")]
    Malformed(String),
    /// A field the data does not have.
    #[error("unknown field {0}")]
    UnknownField(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Text(String),
    Field(String),
    If { field: String, then: Vec<Node>, otherwise: Vec<Node> },
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    nodes: Vec<Node>,
}

enum Token {
    Text(String),
    Action(String),
}

fn tokenize(source: &str) -> Result<Vec<Token>, TemplateError> {
    let mut tokens = Vec::new();
    let mut rest = source;
    let mut trim_next_text = false;
    while let Some(open) = rest.find("{{") {
        let mut text = &rest[..open];
        if trim_next_text {
            text = text.trim_start();
        }
        let after = &rest[open + 2..];
        let close =
            after.find("}}").ok_or_else(|| TemplateError::Malformed("{{ without }}".into()))?;
        let mut action = &after[..close];
        if let Some(a) = action.strip_prefix("- ") {
            text = text.trim_end();
            action = a;
        }
        trim_next_text = false;
        if let Some(a) = action.strip_suffix(" -") {
            trim_next_text = true;
            action = a;
        }
        if !text.is_empty() {
            tokens.push(Token::Text(text.to_owned()));
        }
        tokens.push(Token::Action(action.trim().to_owned()));
        rest = &after[close + 2..];
    }
    let text = if trim_next_text { rest.trim_start() } else { rest };
    if !text.is_empty() {
        tokens.push(Token::Text(text.to_owned()));
    }
    Ok(tokens)
}

fn field_path(action: &str) -> Option<String> {
    let path = action.strip_prefix('.')?;
    let ok = !path.is_empty()
        && path.split('.').all(|part| {
            !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
    ok.then(|| path.to_owned())
}

/// Parses until `{{else}}`/`{{end}}` (returned) or the end of input.
fn parse_block(
    tokens: &mut std::iter::Peekable<std::vec::IntoIter<Token>>,
) -> Result<(Vec<Node>, Option<String>), TemplateError> {
    let mut nodes = Vec::new();
    while let Some(token) = tokens.next() {
        match token {
            Token::Text(t) => nodes.push(Node::Text(strip_html_comments(&t))),
            Token::Action(a) if a.starts_with("/*") && a.ends_with("*/") => {}
            Token::Action(a) if a == "else" || a == "end" => return Ok((nodes, Some(a))),
            Token::Action(a) => {
                if let Some(cond) = a.strip_prefix("if ") {
                    let field = field_path(cond.trim())
                        .ok_or_else(|| TemplateError::Unsupported(a.clone()))?;
                    let (then, stop) = parse_block(tokens)?;
                    let otherwise = match stop.as_deref() {
                        Some("end") => Vec::new(),
                        Some("else") => match parse_block(tokens)? {
                            (otherwise, Some(end)) if end == "end" => otherwise,
                            _ => return Err(TemplateError::Malformed("if without end".into())),
                        },
                        _ => return Err(TemplateError::Malformed("if without end".into())),
                    };
                    nodes.push(Node::If { field, then, otherwise });
                } else {
                    let field = field_path(&a).ok_or(TemplateError::Unsupported(a))?;
                    nodes.push(Node::Field(field));
                }
            }
        }
    }
    Ok((nodes, None))
}

impl Template {
    /// Parses a template.
    ///
    /// # Errors
    /// [`TemplateError`] for what this renderer does not read.
    pub fn parse(source: &str) -> Result<Self, TemplateError> {
        let mut tokens = tokenize(source)?.into_iter().peekable();
        match parse_block(&mut tokens)? {
            (nodes, None) => Ok(Self { nodes }),
            (_, Some(stray)) => {
                Err(TemplateError::Malformed(format!("{{{{{stray}}}}} without if")))
            }
        }
    }

    /// Whether the template is text only, without any action.
    pub fn is_plain(&self) -> bool {
        self.nodes.iter().all(|n| matches!(n, Node::Text(_)))
    }

    /// Renders with `data` answering field paths (`User.Nick`); values are
    /// HTML-escaped.
    ///
    /// # Errors
    /// [`TemplateError::UnknownField`] for a path `data` does not answer.
    pub fn render(&self, data: &dyn Fn(&str) -> Option<String>) -> Result<String, TemplateError> {
        let mut out = String::new();
        render_nodes(&self.nodes, data, true, &mut out)?;
        Ok(out)
    }

    /// Renders without escaping, for plain text such as a subject line.
    ///
    /// # Errors
    /// As [`Template::render`].
    pub fn render_text(
        &self,
        data: &dyn Fn(&str) -> Option<String>,
    ) -> Result<String, TemplateError> {
        let mut out = String::new();
        render_nodes(&self.nodes, data, false, &mut out)?;
        Ok(out)
    }
}

fn render_nodes(
    nodes: &[Node],
    data: &dyn Fn(&str) -> Option<String>,
    escape: bool,
    out: &mut String,
) -> Result<(), TemplateError> {
    let lookup = |path: &str| data(path).ok_or_else(|| TemplateError::UnknownField(path.into()));
    for node in nodes {
        match node {
            Node::Text(t) => out.push_str(t),
            Node::Field(path) if escape => out.push_str(&escape_html(&lookup(path)?)),
            Node::Field(path) => out.push_str(&lookup(path)?),
            Node::If { field, then, otherwise } => {
                let branch = if lookup(field)?.is_empty() { otherwise } else { then };
                render_nodes(branch, data, escape, out)?;
            }
        }
    }
    Ok(())
}

/// Removes `<!-- … -->` (Outlook's conditional comments included).
fn strip_html_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("<!--") {
        out.push_str(&rest[..start]);
        match rest[start + 4..].find("-->") {
            Some(end) => rest = &rest[start + 4 + end + 3..],
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// HTML escaping as Go's `html/template` does it for text and attributes.
pub fn escape_html(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// A plain-text rendering of an HTML email: no head, styles or scripts, no
/// tags, entities decoded, links kept as their address, blank runs collapsed.
pub fn html_to_text(html: &str) -> String {
    let html = &strip_html_comments(html);
    let mut text = String::new();
    let lower = html.to_ascii_lowercase();
    let mut i = 0;
    while i < html.len() {
        if lower[i..].starts_with('<') {
            let end = lower[i..].find('>').map_or(html.len(), |e| i + e + 1);
            let tag = &lower[i..end];
            let name: String = tag
                .trim_start_matches(['<', '/'])
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            // Skip everything inside these.
            if !tag.starts_with("</")
                && matches!(name.as_str(), "head" | "style" | "script" | "title")
            {
                let closing = format!("</{name}");
                i = lower[end..].find(&closing).map_or(html.len(), |c| {
                    let close_start = end + c;
                    lower[close_start..].find('>').map_or(html.len(), |e| close_start + e + 1)
                });
                continue;
            }
            if name == "a"
                && !tag.starts_with("</")
                && let Some(href) = attribute(&html[i..end], "href")
            {
                text.push_str(&format!(" {} ", decode_entities(&href)));
            }
            if matches!(
                name.as_str(),
                "br" | "p" | "div" | "tr" | "li" | "h1" | "h2" | "h3" | "table"
            ) {
                text.push('\n');
            } else {
                text.push(' ');
            }
            i = end;
        } else {
            let next = lower[i..].find('<').map_or(html.len(), |n| i + n);
            text.push_str(&decode_entities(&html[i..next]));
            i = next;
        }
    }
    let mut out = String::new();
    let mut blank = 0;
    for line in text.lines() {
        let line = line.split_whitespace().collect::<Vec<_>>().join(" ");
        if line.is_empty() {
            blank += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank > 0 { "\n\n" } else { "\n" });
        }
        blank = 0;
        out.push_str(&line);
    }
    out.push('\n');
    out
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    let lower = tag.to_ascii_lowercase();
    let at = lower.find(&format!("{name}="))? + name.len() + 1;
    let rest = &tag[at..];
    let quote = rest.chars().next()?;
    if quote == '"' || quote == '\'' {
        rest[1..].find(quote).map(|end| rest[1..=end].trim_end_matches(quote).to_owned())
    } else {
        Some(rest.split(|c: char| c.is_whitespace() || c == '>').next()?.to_owned())
    }
}

fn decode_entities(raw: &str) -> String {
    if !raw.contains('&') {
        return raw.to_owned();
    }
    let mut out = String::new();
    let mut rest = raw;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let tail = &rest[amp..];
        let Some(semi) = tail.find(';').filter(|s| *s <= 10) else {
            out.push('&');
            rest = &tail[1..];
            continue;
        };
        let entity = &tail[1..semi];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "nbsp" => Some(' '),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &tail[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(path: &str) -> Option<String> {
        match path {
            "Url" => Some("https://cloud.example.com/session/reset?id=x&secret=y".into()),
            "User.Nick" => Some("<Jane>".into()),
            "CommonContext.SiteBasic.Name" => Some("My Cloud".into()),
            "CommonContext.Logo.Normal" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn fields_are_escaped_and_trim_markers_trim() {
        let t = Template::parse(
            "<p>Hi {{ .User.Nick }},</p>\n  {{- /* note */ -}}\n  <a href=\"{{.Url}}\">{{.CommonContext.SiteBasic.Name}}</a>",
        )
        .unwrap();
        assert_eq!(
            t.render(&data).unwrap(),
            "<p>Hi &lt;Jane&gt;,</p><a href=\"https://cloud.example.com/session/reset?id=x&amp;secret=y\">My Cloud</a>"
        );
    }

    #[test]
    fn conditionals_follow_go_truthiness() {
        let t = Template::parse("{{if .CommonContext.Logo.Normal}}<img>{{else}}{{.CommonContext.SiteBasic.Name}}{{end}}").unwrap();
        assert_eq!(t.render(&data).unwrap(), "My Cloud");
        let t = Template::parse("{{if .Url}}yes{{end}}").unwrap();
        assert_eq!(t.render(&data).unwrap(), "yes");
    }

    #[test]
    fn what_it_cannot_render_is_an_error() {
        for bad in [
            "{{range .Items}}x{{end}}",
            "{{.Url | html}}",
            "{{printf \"%s\" .Url}}",
            "{{template \"x\"}}",
        ] {
            assert!(matches!(Template::parse(bad), Err(TemplateError::Unsupported(_))), "{bad}");
        }
        for bad in ["{{.Url", "{{if .Url}}x", "{{end}}", "{{if .Url}}{{else}}"] {
            assert!(matches!(Template::parse(bad), Err(TemplateError::Malformed(_))), "{bad}");
        }
        let unknown = Template::parse("{{.User.Password}}").unwrap();
        assert_eq!(unknown.render(&data), Err(TemplateError::UnknownField("User.Password".into())));
    }

    #[test]
    fn html_comments_are_dropped_as_go_drops_them() {
        let t = Template::parse("<!--[if mso]><xml>96</xml><![endif]--><p>{{.Url}}</p><!--[if !mso]>--><b>x</b><!--<![endif]-->").unwrap();
        assert_eq!(
            t.render(&data).unwrap(),
            "<p>https://cloud.example.com/session/reset?id=x&amp;secret=y</p><b>x</b>"
        );
        let title = Template::parse("[{{ .CommonContext.SiteBasic.Name }}] <Reset>").unwrap();
        assert_eq!(title.render_text(&data).unwrap(), "[My Cloud] <Reset>");
    }

    #[test]
    fn html_becomes_readable_text() {
        let html = "<html><head><title>T</title><style>p{color:red}</style></head><body>\
                    <p>Hello &amp; welcome,&nbsp;Jane</p><p><a href=\"https://x.example/r?a=1&amp;b=2\">Reset</a></p>\
                    <script>alert(1)</script></body></html>";
        assert_eq!(
            html_to_text(html),
            "Hello & welcome, Jane\n\nhttps://x.example/r?a=1&b=2 Reset\n"
        );
    }
}
