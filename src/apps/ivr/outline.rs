//! `telvox flow show` (a readable outline) and `telvox flow dot` (Graphviz) of a loaded flow.

use std::fmt::Write;

use super::flow::{Flow, State, StateId};

/// The flow as text: settings, then each state with its actions as written and where it goes.
pub fn show(flow: &Flow) -> String {
    let mut out = String::new();
    let start = state_name(flow, flow.start);
    let _ = writeln!(out, "flow {} ({})", flow.name, flow.path.display());
    let _ = writeln!(
        out,
        "start: {start}; languages: {}; max_transitions: {}; answer after {} ring(s)",
        flow.languages().join(", "),
        flow.max_transitions,
        flow.answer_after_rings
    );
    for state in &flow.states {
        let _ = writeln!(out, "\n[{}]", state.name);
        for action in &state.written {
            let _ = writeln!(out, "  {action}");
        }
        for (outcome, to) in &state.on {
            let _ = writeln!(out, "  on {outcome} -> {}", state_name(flow, *to));
        }
        if let Some(next) = state.next {
            let _ = writeln!(out, "  next -> {}", state_name(flow, next));
        }
    }
    out
}

/// The flow as a Graphviz digraph: a box per state (its actions inside), an edge per way out.
pub fn dot(flow: &Flow) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "digraph {} {{", quote(&flow.name));
    let _ = writeln!(
        out,
        "  rankdir=LR;\n  node [shape=box, fontname=\"monospace\", fontsize=10];"
    );
    let _ = writeln!(out, "  \"\" [shape=point];");
    let _ = writeln!(out, "  \"\" -> {};", quote(state_name(flow, flow.start)));
    for state in &flow.states {
        let mut label = state.name.clone();
        for action in &state.written {
            label.push('\n');
            label.push_str(&shorten(action));
        }
        // `\l` ends every line, the last too, so all are left-justified.
        label.push('\n');
        let _ = writeln!(out, "  {} [label={}];", quote(&state.name), quote(&label));
    }
    for state in &flow.states {
        edges(flow, state, &mut out);
    }
    out.push_str("}\n");
    out
}

fn edges(flow: &Flow, state: &State, out: &mut String) {
    let from = quote(&state.name);
    let mut edge = |to: StateId, attrs: String| {
        let _ = writeln!(out, "  {from} -> {}{attrs};", quote(state_name(flow, to)));
    };
    // Jumps made by actions (menu options, branch arms, goto): unlabelled.
    let mut action_links = Vec::new();
    for action in &state.actions {
        action_links.extend(action.links());
    }
    action_links.sort_unstable();
    action_links.dedup();
    for to in action_links {
        edge(to, String::new());
    }
    for to in state.calls() {
        edge(to, " [style=dashed, label=\"call\"]".into());
    }
    for (outcome, to) in &state.on {
        edge(*to, format!(" [label={}]", quote(outcome)));
    }
    if let Some(next) = state.next {
        edge(next, " [label=\"next\"]".into());
    }
}

fn state_name(flow: &Flow, id: StateId) -> &str {
    flow.states.get(usize::from(id)).map_or("?", |s| s.name.as_str())
}

/// Long actions are cut in the picture (the outline has them whole).
fn shorten(text: &str) -> String {
    const MAX_CHARS: usize = 60;
    if text.chars().count() <= MAX_CHARS {
        return text.to_owned();
    }
    let cut: String = text.chars().take(MAX_CHARS - 1).collect();
    format!("{cut}…")
}

/// A Graphviz double-quoted string.
fn quote(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push_str("\\l"),
            _ => out.push(c),
        }
    }
    out.push('"');
    out
}
