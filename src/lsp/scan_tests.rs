//! Tests of [`super`]: items, cursors and keys on a spec, and broken text.

use super::*;

const SPEC: &str = r#"import paper
import "lib/common.lrx" as common

// The rates.
let lr_quick = { sgdm: 0.01, ia: 0.002 }
task shapes = synthetic_images(size = 16, classes = 10)

train {
  task  = shapes
  arch  in [paper.knet4(width = 0.5), knet5()]
  rule  in paper.rules
  lr    = lr_quick[rule] * batch / 64
  checkpoint = every(2 epochs)
  where rule in [sgdm]
}

observe paper.candidates {
  stimuli = val(128)
}
"#;

fn at(text: &str, needle: &str) -> usize {
    text.find(needle).unwrap() + needle.len()
}

#[test]
fn items_of_a_spec() {
    let d = Doc::new(SPEC);
    let items = d.items();
    assert_eq!(items.len(), 6, "{items:?}");
    match &items[1] {
        TopItem::Import { target, alias, .. } => {
            assert_eq!(target, &ImportOf::File("lib/common.lrx".into()));
            assert_eq!(alias, "common");
        }
        other => panic!("{other:?}"),
    }
    let (kind, name, ..) = d.definition("shapes").unwrap();
    assert_eq!((d.t(kind), d.t(name)), ("task", "shapes"));
    assert_eq!(d.def_callee(name).as_deref(), Some("synthetic_images"));
    let (_, _, start, _) = d.definition("lr_quick").unwrap();
    assert_eq!(d.comment_above(start), "The rates.");
}

#[test]
fn cursor_frames_and_keys() {
    let d = Doc::new(SPEC);
    // Inside a call in a list in a train block, after `width = `.
    let c = d.cursor(at(SPEC, "width = "));
    let kinds: Vec<&FrameKind> = c.frames.iter().map(|f| &f.kind).collect();
    assert_eq!(kinds.len(), 4, "{kinds:?}");
    assert_eq!(
        kinds[1],
        &FrameKind::Block {
            kind: "train".into(),
            head: None
        }
    );
    assert_eq!(kinds[2], &FrameKind::List { index: false });
    assert_eq!(
        kinds[3],
        &FrameKind::Call {
            callee: "paper.knet4".into()
        }
    );
    assert_eq!(c.frames[1].key, Some(("arch".into(), Rel::Axis)));
    assert_eq!(c.frames[3].key, Some(("width".into(), Rel::Set)));
    // An index: `lr_quick[`.
    let c = d.cursor(at(SPEC, "lr_quick[r"));
    assert_eq!(c.prefix, "r");
    assert_eq!(
        c.frames.last().unwrap().kind,
        FrameKind::List { index: true }
    );
    // After `where`, `rule in` is the condition, not a new axis.
    let c = d.cursor(at(SPEC, "where rule in ["));
    assert_eq!(c.frames[1].key, Some(("where".into(), Rel::Where)));
    // A block with a head.
    let c = d.cursor(at(SPEC, "stimuli"));
    assert_eq!(c.prefix, "stimuli");
    assert!(c.line_start);
    assert_eq!(
        c.frames[1].kind,
        FrameKind::Block {
            kind: "observe".into(),
            head: Some("paper.candidates".into())
        }
    );
    // A dotted prefix, a number before the position, comments and strings.
    assert_eq!(d.cursor(at(SPEC, "paper.kn")).prefix, "paper.kn");
    let c = d.cursor(at(SPEC, "every(2 "));
    assert_eq!(d.t(c.prev.unwrap()), "2");
    assert!(d.cursor(at(SPEC, "// The ")).in_comment);
    assert!(d.cursor(at(SPEC, "\"lib/")).in_string);
    assert!(!d.cursor(at(SPEC, "\"lib/common.lrx\"")).in_string);
    // The top level: a definition's kind is its key.
    let c = d.cursor(at(SPEC, "task shapes = "));
    assert_eq!(c.frames.len(), 1);
    assert_eq!(c.frames[0].key, Some(("task".into(), Rel::Set)));
}

#[test]
fn keys_declared_in_a_block() {
    let d = Doc::new(SPEC);
    let open = (0..d.toks.len())
        .find(|&i| d.t(i) == "{" && d.t(i - 1) == "train")
        .unwrap();
    let k = d.key_in_block(open, "rule").unwrap();
    assert_eq!(
        &SPEC[d.toks[k].start..],
        &SPEC[SPEC.find("rule  in").unwrap()..]
    );
    assert!(d.key_in_block(open, "nope").is_none());
}

#[test]
fn broken_text_never_panics() {
    for text in [
        "",
        "(",
        ")",
        "}}}",
        "\"open",
        "/* open",
        "a.(",
        "é(",
        "x = [1,\n",
        "1e",
        "1e-",
    ] {
        let d = Doc::new(text);
        d.items();
        for o in 0..=text.len() {
            if text.is_char_boundary(o) {
                d.cursor(o);
                d.token_at(o);
            }
        }
    }
}
