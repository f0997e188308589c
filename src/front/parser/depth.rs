//! Measuring tree heights without recursion, so the parser can refuse trees deeper
//! than `MAX_DEPTH` whatever shape they have.

use super::{too_deep, Res, MAX_DEPTH};
use crate::front::ast::*;

/// A node of the tree: statements and expressions count as one level each; the
/// structures in between (parameters, arguments, handlers, f-string parts) are transparent.
#[derive(Clone, Copy)]
enum Node<'a> {
    S(&'a Stmt),
    E(&'a Expr),
}

fn params<'a>(p: &'a Params, out: &mut Vec<Node<'a>>) {
    let all = p
        .args
        .iter()
        .chain(p.vararg.iter())
        .chain(p.kwonly.iter())
        .chain(p.kwarg.iter());
    for prm in all {
        out.extend(prm.default.iter().map(Node::E));
        out.extend(prm.annotation.iter().map(Node::E));
    }
}

fn fparts<'a>(parts: &'a [FPart], out: &mut Vec<Node<'a>>, pending: &mut Vec<&'a [FPart]>) {
    for part in parts {
        if let FPart::Value { expr, spec, .. } = part {
            out.push(Node::E(expr));
            pending.push(spec);
        }
    }
}

fn comps<'a>(gens: &'a [Comprehension], out: &mut Vec<Node<'a>>) {
    for g in gens {
        out.push(Node::E(&g.target));
        out.push(Node::E(&g.iter));
        out.extend(g.ifs.iter().map(Node::E));
    }
}

fn expr_children<'a>(e: &'a Expr, out: &mut Vec<Node<'a>>) {
    use ExprKind::*;
    match &e.kind {
        Int(_) | BigInt(_) | Float(_) | Str(_) | Bool(_) | NoneLit | Ellipsis | Name(_) => {}
        FString(parts) => {
            // Specs may nest (a little); walk them with a local worklist.
            let mut pending: Vec<&[FPart]> = vec![parts];
            while let Some(ps) = pending.pop() {
                fparts(ps, out, &mut pending);
            }
        }
        BinOp { left, right, .. } => {
            out.push(Node::E(left));
            out.push(Node::E(right));
        }
        UnaryOp { operand, .. } => out.push(Node::E(operand)),
        BoolOp { values, .. } | List(values) | Tuple(values) | Set(values) => {
            out.extend(values.iter().map(Node::E))
        }
        Compare { left, ops } => {
            out.push(Node::E(left));
            out.extend(ops.iter().map(|(_, x)| Node::E(x)));
        }
        IfExp { test, body, orelse } => {
            out.push(Node::E(test));
            out.push(Node::E(body));
            out.push(Node::E(orelse));
        }
        Call { func, args } => {
            out.push(Node::E(func));
            for a in args {
                match a {
                    Arg::Positional(x) | Arg::Star(x) | Arg::Keyword(_, x) | Arg::DoubleStar(x) => {
                        out.push(Node::E(x))
                    }
                }
            }
        }
        Attribute { value, .. } => out.push(Node::E(value)),
        Subscript { value, index } => {
            out.push(Node::E(value));
            out.push(Node::E(index));
        }
        Slice { lower, upper, step } => {
            for x in [lower, upper, step].into_iter().flatten() {
                out.push(Node::E(x));
            }
        }
        Dict(entries) => {
            for (k, v) in entries {
                out.extend(k.iter().map(Node::E));
                out.push(Node::E(v));
            }
        }
        ListComp { elt, generators }
        | SetComp { elt, generators }
        | GeneratorExp { elt, generators } => {
            out.push(Node::E(elt));
            comps(generators, out);
        }
        DictComp {
            key,
            value,
            generators,
        } => {
            out.push(Node::E(key));
            out.push(Node::E(value));
            comps(generators, out);
        }
        Lambda { params: p, body } => {
            params(p, out);
            out.push(Node::E(body));
        }
        Starred(x) | YieldFrom(x) | Await(x) => out.push(Node::E(x)),
        Yield(x) => out.extend(x.iter().map(|b| Node::E(b))),
        NamedExpr { value, .. } => out.push(Node::E(value)),
    }
}

fn stmt_children<'a>(s: &'a Stmt, out: &mut Vec<Node<'a>>) {
    use StmtKind::*;
    let stmts = |b: &'a [Stmt], out: &mut Vec<Node<'a>>| out.extend(b.iter().map(Node::S));
    match &s.kind {
        Expr(e) => out.push(Node::E(e)),
        Assign { targets, value } => {
            out.extend(targets.iter().map(Node::E));
            out.push(Node::E(value));
        }
        AugAssign { target, value, .. } => {
            out.push(Node::E(target));
            out.push(Node::E(value));
        }
        AnnAssign {
            target,
            annotation,
            value,
        } => {
            out.push(Node::E(target));
            out.push(Node::E(annotation));
            out.extend(value.iter().map(Node::E));
        }
        If { test, body, orelse } | While { test, body, orelse } => {
            out.push(Node::E(test));
            stmts(body, out);
            stmts(orelse, out);
        }
        For {
            target,
            iter,
            body,
            orelse,
            ..
        } => {
            out.push(Node::E(target));
            out.push(Node::E(iter));
            stmts(body, out);
            stmts(orelse, out);
        }
        Break | Continue | Pass | Global(_) | Nonlocal(_) | Import(_) | ImportFrom { .. } => {}
        Return(v) => out.extend(v.iter().map(Node::E)),
        FunctionDef(f) => {
            params(&f.params, out);
            stmts(&f.body, out);
            out.extend(f.decorators.iter().map(Node::E));
            out.extend(f.returns.iter().map(Node::E));
        }
        ClassDef(c) => {
            out.extend(c.bases.iter().map(Node::E));
            stmts(&c.body, out);
            out.extend(c.decorators.iter().map(Node::E));
        }
        Try(t) => {
            stmts(&t.body, out);
            for h in &t.handlers {
                out.extend(h.typ.iter().map(Node::E));
                stmts(&h.body, out);
            }
            stmts(&t.orelse, out);
            stmts(&t.finalbody, out);
        }
        Raise { exc, cause } => {
            out.extend(exc.iter().map(Node::E));
            out.extend(cause.iter().map(Node::E));
        }
        Assert { test, msg } => {
            out.push(Node::E(test));
            out.extend(msg.iter().map(Node::E));
        }
        Delete(targets) => out.extend(targets.iter().map(Node::E)),
        With { items, body, .. } => {
            for it in items {
                out.push(Node::E(&it.context));
                out.extend(it.target.iter().map(Node::E));
            }
            stmts(body, out);
        }
    }
}

/// Height of the tree under `root` (a leaf has height 1), computed with an explicit stack.
fn height(root: Node<'_>) -> usize {
    let mut stack = vec![(root, 1usize)];
    let mut kids = Vec::new();
    let mut max = 0;
    while let Some((node, d)) = stack.pop() {
        max = max.max(d);
        match node {
            Node::S(s) => stmt_children(s, &mut kids),
            Node::E(e) => expr_children(e, &mut kids),
        }
        stack.extend(kids.drain(..).map(|k| (k, d + 1)));
    }
    max
}

/// Height of an expression tree.
pub(super) fn expr_height(e: &Expr) -> usize {
    height(Node::E(e))
}

/// Height of the expressions inside a parameter list (0 if there are none).
pub(super) fn params_height(p: &Params) -> usize {
    let mut kids = Vec::new();
    params(p, &mut kids);
    kids.into_iter().map(height).max().unwrap_or(0)
}

/// Fails with `TooDeep` if any statement of the module sits deeper than `MAX_DEPTH`.
pub(super) fn check_module(body: &[Stmt]) -> Res<()> {
    for s in body {
        if height(Node::S(s)) > MAX_DEPTH {
            return Err(too_deep(s.pos));
        }
    }
    Ok(())
}
