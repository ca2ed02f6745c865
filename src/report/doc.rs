//! The report as a document model (sections of paragraphs, lists, tables and figures), rendered
//! to self-contained HTML (figures inline as SVG) and to Markdown (figures as files in `plots/`).

use super::plot::Rendered;

/// Text with `code` spans in backticks (no other markup).
pub(crate) type Text = String;

#[derive(Debug, Clone)]
pub(crate) struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

#[derive(Debug, Clone)]
pub(crate) enum Block {
    Para(Text),
    /// A remark about missing or partial inputs.
    Note(Text),
    List(Vec<Text>),
    Table(Table),
    /// Index into [`Doc::figures`].
    Figure(usize),
}

#[derive(Debug, Clone)]
pub(crate) struct Section {
    /// Anchor (also the HTML id).
    pub id: String,
    pub title: String,
    /// Which files the section reads.
    pub reads: Text,
    pub blocks: Vec<Block>,
}

#[derive(Debug, Clone)]
pub(crate) struct Figure {
    /// File stem under `results/plots/` (unique, `[a-z0-9_-]`).
    pub name: String,
    pub caption: Text,
    pub rendered: Rendered,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Doc {
    pub title: String,
    pub subtitle: Option<Text>,
    pub sections: Vec<Section>,
    pub figures: Vec<Figure>,
}

/// `[a-z0-9_-]` file stem from any text.
pub(crate) fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let t = out.trim_matches('-').to_string();
    if t.is_empty() { "x".to_string() } else { t }
}

impl Doc {
    /// Adds a figure with a unique name; returns the block that shows it.
    pub(crate) fn figure(
        &mut self,
        name: &str,
        caption: impl Into<String>,
        rendered: Rendered,
    ) -> Block {
        let base = slug(name);
        let mut n = base.clone();
        let mut k = 2;
        while self.figures.iter().any(|f| f.name == n) {
            n = format!("{base}-{k}");
            k += 1;
        }
        self.figures.push(Figure {
            name: n,
            caption: caption.into(),
            rendered,
        });
        Block::Figure(self.figures.len() - 1)
    }
}

pub(crate) fn escape_html(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            _ => o.push(c),
        }
    }
    o
}

/// Escaped HTML with `code` spans.
fn inline_html(s: &str) -> String {
    let mut out = String::new();
    for (i, part) in s.split('`').enumerate() {
        if i % 2 == 1 {
            out.push_str("<code>");
            out.push_str(&escape_html(part));
            out.push_str("</code>");
        } else {
            out.push_str(&escape_html(part));
        }
    }
    out
}

/// Markdown text: the backtick spans are kept, characters that would start markup are escaped.
fn inline_md(s: &str) -> String {
    let mut out = String::new();
    for (i, part) in s.split('`').enumerate() {
        if i % 2 == 1 {
            out.push('`');
            out.push_str(part);
            out.push('`');
        } else {
            for c in part.chars() {
                if matches!(c, '*' | '_' | '[' | ']' | '<' | '>' | '|' | '\\') {
                    out.push('\\');
                }
                out.push(c);
            }
        }
    }
    out
}

fn md_cell(s: &str) -> String {
    inline_md(s).replace('\n', " ")
}

/// Drops an XML prolog so the SVG can be inlined in HTML, and makes it scale with the page.
fn inline_svg(svg: &str) -> String {
    let s = svg.trim_start();
    let s = if s.starts_with("<?xml") {
        s.find("?>").map(|i| &s[i + 2..]).unwrap_or(s)
    } else {
        s
    };
    s.trim()
        .replacen("<svg ", "<svg class=\"plot\" role=\"img\" ", 1)
}

const CSS: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1180px;\
margin:2em auto;padding:0 1em;color:#222;line-height:1.45}h1{margin-bottom:.2em}\
h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}\
table{border-collapse:collapse;margin:1em 0;font-size:.92em}\
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}\
th{background:#f3f3f3}tr:nth-child(even) td{background:#fafafa}\
code{background:#f2f2f2;padding:0 .2em;border-radius:3px;font-size:.92em}\
figure{margin:1.2em 0}figcaption{font-size:.9em;color:#555;margin-top:.3em}\
svg.plot{max-width:100%;height:auto;border:1px solid #eee}\
.note{background:#fff8e1;border-left:4px solid #f0b400;padding:.4em .8em}\
.reads{color:#666;font-size:.88em}nav ol{columns:2}";

impl Doc {
    pub(crate) fn to_html(&self) -> String {
        let mut h = String::new();
        h.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
        h.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
        h.push_str(&format!("<title>{}</title>\n", escape_html(&self.title)));
        h.push_str(&format!("<style>{CSS}</style>\n</head>\n<body>\n"));
        h.push_str(&format!("<h1>{}</h1>\n", inline_html(&self.title)));
        if let Some(s) = &self.subtitle {
            h.push_str(&format!("<p>{}</p>\n", inline_html(s)));
        }
        h.push_str("<nav><ol>\n");
        for s in &self.sections {
            h.push_str(&format!(
                "<li><a href=\"#{}\">{}</a></li>\n",
                escape_html(&s.id),
                inline_html(&s.title)
            ));
        }
        h.push_str("</ol></nav>\n");
        for s in &self.sections {
            h.push_str(&format!(
                "<section id=\"{}\">\n<h2>{}</h2>\n",
                escape_html(&s.id),
                inline_html(&s.title)
            ));
            if !s.reads.is_empty() {
                h.push_str(&format!(
                    "<p class=\"reads\">Reads: {}</p>\n",
                    inline_html(&s.reads)
                ));
            }
            for b in &s.blocks {
                match b {
                    Block::Para(t) => h.push_str(&format!("<p>{}</p>\n", inline_html(t))),
                    Block::Note(t) => {
                        h.push_str(&format!("<p class=\"note\">{}</p>\n", inline_html(t)))
                    }
                    Block::List(items) => {
                        h.push_str("<ul>\n");
                        for i in items {
                            h.push_str(&format!("<li>{}</li>\n", inline_html(i)));
                        }
                        h.push_str("</ul>\n");
                    }
                    Block::Table(t) => {
                        h.push_str("<table>\n<thead><tr>");
                        for c in &t.header {
                            h.push_str(&format!("<th>{}</th>", inline_html(c)));
                        }
                        h.push_str("</tr></thead>\n<tbody>\n");
                        for r in &t.rows {
                            h.push_str("<tr>");
                            for c in r {
                                h.push_str(&format!("<td>{}</td>", inline_html(c)));
                            }
                            h.push_str("</tr>\n");
                        }
                        h.push_str("</tbody>\n</table>\n");
                    }
                    Block::Figure(i) => {
                        let f = &self.figures[*i];
                        h.push_str(&format!(
                            "<figure id=\"fig-{}\">\n{}\n<figcaption>{}</figcaption>\n</figure>\n",
                            f.name,
                            inline_svg(&f.rendered.svg),
                            inline_html(&f.caption)
                        ));
                    }
                }
            }
            h.push_str("</section>\n");
        }
        h.push_str("</body>\n</html>\n");
        h
    }

    /// Markdown; figures are `![caption](<plots_rel>/<name>.png)` with a link to the SVG.
    pub(crate) fn to_markdown(&self, plots_rel: &str) -> String {
        let mut m = String::new();
        m.push_str(&format!("# {}\n\n", inline_md(&self.title)));
        if let Some(s) = &self.subtitle {
            m.push_str(&format!("{}\n\n", inline_md(s)));
        }
        for (i, s) in self.sections.iter().enumerate() {
            m.push_str(&format!(
                "{}. [{}](#{})\n",
                i + 1,
                inline_md(&s.title),
                s.id
            ));
        }
        m.push('\n');
        for s in &self.sections {
            m.push_str(&format!(
                "<a id=\"{}\"></a>\n\n## {}\n\n",
                s.id,
                inline_md(&s.title)
            ));
            if !s.reads.is_empty() {
                m.push_str(&format!("*Reads: {}*\n\n", inline_md(&s.reads)));
            }
            for b in &s.blocks {
                match b {
                    Block::Para(t) => m.push_str(&format!("{}\n\n", inline_md(t))),
                    Block::Note(t) => m.push_str(&format!("> **Note.** {}\n\n", inline_md(t))),
                    Block::List(items) => {
                        for i in items {
                            m.push_str(&format!("- {}\n", inline_md(i)));
                        }
                        m.push('\n');
                    }
                    Block::Table(t) => {
                        let cells: Vec<String> = t.header.iter().map(|c| md_cell(c)).collect();
                        m.push_str(&format!("| {} |\n", cells.join(" | ")));
                        m.push_str(&format!("|{}\n", "---|".repeat(t.header.len())));
                        for r in &t.rows {
                            let cells: Vec<String> = r.iter().map(|c| md_cell(c)).collect();
                            m.push_str(&format!("| {} |\n", cells.join(" | ")));
                        }
                        m.push('\n');
                    }
                    Block::Figure(i) => {
                        let f = &self.figures[*i];
                        m.push_str(&format!(
                            "![{}]({plots_rel}/{}.png)\n\n*{}* ([SVG]({plots_rel}/{}.svg))\n\n",
                            f.caption.replace(['[', ']', '`', '\n'], ""),
                            f.name,
                            inline_md(&f.caption),
                            f.name
                        ));
                    }
                }
            }
        }
        m
    }
}
