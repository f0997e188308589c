//! Unit tests of the parser: AST shapes (through a compact S-expression printer),
//! error messages and positions, and depth limits.

use super::*;
use crate::front::diagnostics::SyntaxErrorKind;

// ----- a compact printer ----------------------------------------------------------

fn list(items: &[Expr]) -> String {
    items.iter().map(ex).collect::<Vec<_>>().join(" ")
}

fn opt(e: &Option<Box<Expr>>) -> String {
    e.as_ref().map_or("_".to_string(), |e| ex(e))
}

fn fparts(parts: &[FPart]) -> String {
    let v: Vec<String> = parts
        .iter()
        .map(|p| match p {
            FPart::Lit(s) => format!("{:?}", s),
            FPart::Value {
                expr,
                conversion,
                spec,
                debug_text,
            } => {
                let mut s = format!("{{{}", ex(expr));
                if let Some(c) = conversion {
                    s.push_str(&format!("!{}", c));
                }
                if !spec.is_empty() {
                    s.push_str(&format!(":{}", fparts(spec)));
                }
                if let Some(d) = debug_text {
                    s.push_str(&format!(" dbg={:?}", d));
                }
                s.push('}');
                s
            }
        })
        .collect();
    v.join(" ")
}

fn comps(gens: &[Comprehension]) -> String {
    gens.iter()
        .map(|g| {
            let mut s = format!(
                "({}for {} in {}",
                if g.is_async { "async " } else { "" },
                ex(&g.target),
                ex(&g.iter)
            );
            for c in &g.ifs {
                s.push_str(&format!(" if {}", ex(c)));
            }
            s.push(')');
            s
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn param(p: &Param) -> String {
    let mut s = p.name.clone();
    if let Some(a) = &p.annotation {
        s.push_str(&format!(":{}", ex(a)));
    }
    if let Some(d) = &p.default {
        s.push_str(&format!("={}", ex(d)));
    }
    s
}

fn params(p: &Params) -> String {
    let mut v: Vec<String> = p.args.iter().map(param).collect();
    if let Some(a) = &p.vararg {
        v.push(format!("*{}", param(a)));
    } else if !p.kwonly.is_empty() {
        v.push("*".into());
    }
    v.extend(p.kwonly.iter().map(param));
    if let Some(a) = &p.kwarg {
        v.push(format!("**{}", param(a)));
    }
    format!("({})", v.join(" "))
}

fn ex(e: &Expr) -> String {
    use ExprKind::*;
    match &e.kind {
        Int(v) => v.to_string(),
        BigInt(s) => format!("big{}", s),
        Float(f) => format!("f{:?}", f),
        Str(s) => format!("{:?}", s),
        FString(parts) => format!("f[{}]", fparts(parts)),
        Bool(b) => if *b { "True" } else { "False" }.to_string(),
        NoneLit => "None".into(),
        Ellipsis => "...".into(),
        Name(n) => n.clone(),
        BinOp { left, op, right } => format!("({} {} {})", op.symbol(), ex(left), ex(right)),
        UnaryOp { op, operand } => {
            let o = match op {
                crate::front::ast::UnaryOp::Neg => "neg",
                crate::front::ast::UnaryOp::Pos => "pos",
                crate::front::ast::UnaryOp::Not => "not",
                crate::front::ast::UnaryOp::Invert => "inv",
            };
            format!("({} {})", o, ex(operand))
        }
        BoolOp { op, values } => {
            let o = if *op == crate::front::ast::BoolOp::And {
                "and"
            } else {
                "or"
            };
            format!("({} {})", o, list(values))
        }
        Compare { left, ops } => {
            let mut s = format!("(cmp {}", ex(left));
            for (o, r) in ops {
                s.push_str(&format!(" {} {}", o.symbol(), ex(r)));
            }
            s.push(')');
            s
        }
        IfExp { test, body, orelse } => format!("(if {} {} {})", ex(test), ex(body), ex(orelse)),
        Call { func, args } => {
            let mut s = format!("(call {}", ex(func));
            for a in args {
                s.push(' ');
                s.push_str(&match a {
                    Arg::Positional(x) => ex(x),
                    Arg::Star(x) => format!("*{}", ex(x)),
                    Arg::Keyword(k, x) => format!("{}={}", k, ex(x)),
                    Arg::DoubleStar(x) => format!("**{}", ex(x)),
                });
            }
            s.push(')');
            s
        }
        Attribute { value, attr } => format!("(. {} {})", ex(value), attr),
        Subscript { value, index } => format!("([] {} {})", ex(value), ex(index)),
        Slice { lower, upper, step } => {
            format!("(slice {} {} {})", opt(lower), opt(upper), opt(step))
        }
        List(v) => format!("[{}]", list(v)),
        Tuple(v) => format!("(tuple {})", list(v)),
        Set(v) => format!("{{set {}}}", list(v)),
        Dict(entries) => {
            let v: Vec<String> = entries
                .iter()
                .map(|(k, v)| match k {
                    Some(k) => format!("{}:{}", ex(k), ex(v)),
                    None => format!("**{}", ex(v)),
                })
                .collect();
            format!("{{dict {}}}", v.join(" "))
        }
        ListComp { elt, generators } => format!("(listcomp {} {})", ex(elt), comps(generators)),
        SetComp { elt, generators } => format!("(setcomp {} {})", ex(elt), comps(generators)),
        GeneratorExp { elt, generators } => format!("(genexp {} {})", ex(elt), comps(generators)),
        DictComp {
            key,
            value,
            generators,
        } => {
            format!("(dictcomp {}:{} {})", ex(key), ex(value), comps(generators))
        }
        Lambda { params: p, body } => format!("(lambda {} {})", params(p), ex(body)),
        Starred(x) => format!("*{}", ex(x)),
        Yield(x) => match x {
            Some(x) => format!("(yield {})", ex(x)),
            None => "(yield)".into(),
        },
        YieldFrom(x) => format!("(yieldfrom {})", ex(x)),
        Await(x) => format!("(await {})", ex(x)),
        NamedExpr { target, value } => format!("(:= {} {})", target, ex(value)),
    }
}

fn body(b: &[Stmt]) -> String {
    format!("[{}]", b.iter().map(st).collect::<Vec<_>>().join(" "))
}

fn st(s: &Stmt) -> String {
    use StmtKind::*;
    match &s.kind {
        Expr(e) => ex(e),
        Assign { targets, value } => format!("(= {} {})", list(targets), ex(value)),
        AugAssign { target, op, value } => {
            format!("({}= {} {})", op.symbol(), ex(target), ex(value))
        }
        AnnAssign {
            target,
            annotation,
            value,
        } => format!(
            "(ann {} {}{})",
            ex(target),
            ex(annotation),
            value
                .as_ref()
                .map_or(String::new(), |v| format!(" {}", ex(v)))
        ),
        If {
            test,
            body: b,
            orelse,
        } => format!("(if {} {} {})", ex(test), body(b), body(orelse)),
        While {
            test,
            body: b,
            orelse,
        } => {
            format!("(while {} {} {})", ex(test), body(b), body(orelse))
        }
        For {
            target,
            iter,
            body: b,
            orelse,
            is_async,
        } => format!(
            "({}for {} {} {} {})",
            if *is_async { "async " } else { "" },
            ex(target),
            ex(iter),
            body(b),
            body(orelse)
        ),
        Break => "break".into(),
        Continue => "continue".into(),
        Pass => "pass".into(),
        Return(v) => match v {
            Some(v) => format!("(return {})", ex(v)),
            None => "(return)".into(),
        },
        FunctionDef(f) => {
            let mut s = String::from("(");
            for d in &f.decorators {
                s.push_str(&format!("@{} ", ex(d)));
            }
            s.push_str(&format!(
                "{}def {} {}",
                if f.is_async { "async " } else { "" },
                f.name,
                params(&f.params)
            ));
            if let Some(r) = &f.returns {
                s.push_str(&format!(" -> {}", ex(r)));
            }
            s.push_str(&format!(" {})", body(&f.body)));
            s
        }
        ClassDef(c) => {
            let mut s = String::from("(");
            for d in &c.decorators {
                s.push_str(&format!("@{} ", ex(d)));
            }
            s.push_str(&format!(
                "class {} ({}) {})",
                c.name,
                list(&c.bases),
                body(&c.body)
            ));
            s
        }
        Global(n) => format!("(global {})", n.join(" ")),
        Nonlocal(n) => format!("(nonlocal {})", n.join(" ")),
        Try(t) => {
            let mut s = format!("(try {}", body(&t.body));
            for h in &t.handlers {
                s.push_str(&format!(
                    " (except {}{} {})",
                    h.typ.as_ref().map_or("_".to_string(), ex),
                    h.name
                        .as_ref()
                        .map_or(String::new(), |n| format!(" as {}", n)),
                    body(&h.body)
                ));
            }
            s.push_str(&format!(" {} {})", body(&t.orelse), body(&t.finalbody)));
            s
        }
        Raise { exc, cause } => format!(
            "(raise{}{})",
            exc.as_ref()
                .map_or(String::new(), |e| format!(" {}", ex(e))),
            cause
                .as_ref()
                .map_or(String::new(), |e| format!(" from {}", ex(e)))
        ),
        Assert { test, msg } => format!(
            "(assert {}{})",
            ex(test),
            msg.as_ref()
                .map_or(String::new(), |e| format!(" {}", ex(e)))
        ),
        Delete(t) => format!("(del {})", list(t)),
        Import(names) => format!("(import {})", aliases(names)),
        ImportFrom { module, names } => format!("(from {} import {})", module, aliases(names)),
        With {
            items,
            body: b,
            is_async,
        } => {
            let v: Vec<String> = items
                .iter()
                .map(|it| match &it.target {
                    Some(t) => format!("{} as {}", ex(&it.context), ex(t)),
                    None => ex(&it.context),
                })
                .collect();
            format!(
                "({}with {} {})",
                if *is_async { "async " } else { "" },
                v.join(", "),
                body(b)
            )
        }
    }
}

fn aliases(names: &[Alias]) -> String {
    names
        .iter()
        .map(|a| match &a.asname {
            Some(n) => format!("{} as {}", a.name, n),
            None => a.name.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Parses `src` and prints its statements, one per line.
fn p(src: &str) -> String {
    match parse(src) {
        Ok(m) => m.body.iter().map(st).collect::<Vec<_>>().join("\n"),
        Err(e) => panic!("unexpected error for {:?}: {:?}", src, e),
    }
}

/// Parses a single expression statement and prints the expression.
fn e(src: &str) -> String {
    p(src)
}

fn fail(src: &str) -> (SyntaxErrorKind, String, u32, u32) {
    match parse(src) {
        Ok(m) => panic!("expected an error for {:?}, got {:?}", src, m),
        Err(e) => (e.kind, e.msg, e.line, e.col),
    }
}

// ----- expressions ----------------------------------------------------------------

#[test]
fn precedence() {
    assert_eq!(e("1 + 2 * 3 - 4"), "(- (+ 1 (* 2 3)) 4)");
    assert_eq!(e("-2 ** 2"), "(neg (** 2 2))");
    assert_eq!(e("2 ** 3 ** 4"), "(** 2 (** 3 4))");
    assert_eq!(e("2 ** -1 * 3"), "(* (** 2 (neg 1)) 3)");
    assert_eq!(e("a * -b ** c"), "(* a (neg (** b c)))");
    assert_eq!(
        e("a | b ^ c & d << 1 + 2"),
        "(| a (^ b (& c (<< d (+ 1 2)))))"
    );
    assert_eq!(e("a // b % c @ d / e"), "(/ (@ (% (// a b) c) d) e)");
    assert_eq!(e("~x >> 1"), "(>> (inv x) 1)");
    assert_eq!(e("+x"), "(pos x)");
    assert_eq!(e("not a == b"), "(not (cmp a == b))");
    assert_eq!(e("a or b and c or d"), "(or a (and b c) d)");
    assert_eq!(e("a and b and c"), "(and a b c)");
    assert_eq!(e("not not a and b"), "(and (not (not a)) b)");
    assert_eq!(e("a < b <= c != d"), "(cmp a < b <= c != d)");
    assert_eq!(
        e("a is not b in c not in d is e > f >= g == h"),
        "(cmp a is not b in c not in d is e > f >= g == h)"
    );
    assert_eq!(e("(a < b) < c"), "(cmp (cmp a < b) < c)");
    assert_eq!(e("x if c else y if d else z"), "(if c x (if d y z))");
    assert_eq!(
        e("lambda: lambda x, y=1: x"),
        "(lambda () (lambda (x y=1) x))"
    );
    assert_eq!(e("lambda x: a if x else b"), "(lambda (x) (if x a b))");
    assert_eq!(e("await f() ** 2"), "(** (await (call f)) 2)");
    assert_eq!(e("-await x"), "(neg (await x))");
}

#[test]
fn primaries() {
    assert_eq!(
        e("a.b.c(1)(2)[3]"),
        "([] (call (call (. (. a b) c) 1) 2) 3)"
    );
    assert_eq!(e("f(a, *b, k=1, **d)"), "(call f a *b k=1 **d)");
    assert_eq!(e("f(x for x in y)"), "(call f (genexp x (for x in y)))");
    assert_eq!(e("f(a,)"), "(call f a)");
    assert_eq!(e("f(a=1, *b)"), "(call f a=1 *b)");
    assert_eq!(e("a[1:2]"), "([] a (slice 1 2 _))");
    assert_eq!(e("a[::-1]"), "([] a (slice _ _ (neg 1)))");
    assert_eq!(e("a[:]"), "([] a (slice _ _ _))");
    assert_eq!(e("a[1:2, 3]"), "([] a (tuple (slice 1 2 _) 3))");
    assert_eq!(e("d[1, 2]"), "([] d (tuple 1 2))");
    assert_eq!(e("d[1,]"), "([] d (tuple 1))");
    assert_eq!(e("a[i:]"), "([] a (slice i _ _))");
    assert_eq!(e("a[::2]"), "([] a (slice _ _ 2))");
}

#[test]
fn atoms_and_displays() {
    assert_eq!(e("()"), "(tuple )");
    assert_eq!(e("(x,)"), "(tuple x)");
    assert_eq!(e("(x)"), "x");
    assert_eq!(e("(1, *a, 2)"), "(tuple 1 *a 2)");
    assert_eq!(e("[1, *a]"), "[1 *a]");
    assert_eq!(e("[]"), "[]");
    assert_eq!(e("{}"), "{dict }");
    assert_eq!(e("{1: 2, **m, 'k': v}"), "{dict 1:2 **m \"k\":v}");
    assert_eq!(e("{**m}"), "{dict **m}");
    assert_eq!(e("{1, 2,}"), "{set 1 2}");
    assert_eq!(e("{*a, 1}"), "{set *a 1}");
    assert_eq!(e("..."), "...");
    assert_eq!(e("None, True, False"), "(tuple None True False)");
    assert_eq!(e("1.5, .5, 1e3"), "(tuple f1.5 f0.5 f1000.0)");
    assert_eq!(e("99999999999999999999"), "big99999999999999999999");
    assert_eq!(e("(n := 10)"), "(:= n 10)");
    assert_eq!(e("(yield)"), "(yield)");
    assert_eq!(e("(yield from g)"), "(yieldfrom g)");
    assert_eq!(e("(yield a, b)"), "(yield (tuple a b))");
}

#[test]
fn comprehensions() {
    assert_eq!(
        e("[x * y for x in a if x if x > 1 for y in b]"),
        "(listcomp (* x y) (for x in a if x if (cmp x > 1)) (for y in b))"
    );
    assert_eq!(
        e("{k: v for k, v in d.items()}"),
        "(dictcomp k:v (for (tuple k v) in (call (. d items))))"
    );
    assert_eq!(e("{x for x in s}"), "(setcomp x (for x in s))");
    assert_eq!(e("(x async for x in g)"), "(genexp x (async for x in g))");
    assert_eq!(
        e("[(x, y) for x, y in z]"),
        "(listcomp (tuple x y) (for (tuple x y) in z))"
    );
}

#[test]
fn strings() {
    assert_eq!(e("'a' \"b\" '''c'''"), "\"abc\"");
    assert_eq!(e("f'a{x}b'"), "f[\"a\" {x} \"b\"]");
    assert_eq!(e("'p' f'{x!r:>8}' 'q'"), "f[\"p\" {x!r:\">8\"} \"q\"]");
    assert_eq!(
        e("f'{y:.2f}{z:5d}{w!s}{v!a}'"),
        "f[{y:\".2f\"} {z:\"5d\"} {w!s} {v!a}]"
    );
    assert_eq!(
        e("f'{x:>{width}.{p}f}'"),
        "f[{x:\">\" {width} \".\" {p} \"f\"}]"
    );
    assert_eq!(e("f'{{a}} }}'"), "f[\"{a} }\"]");
    assert_eq!(e("f'{x=}'"), "f[{x dbg=\"x=\"}]");
    assert_eq!(e("f'{x = }'"), "f[{x dbg=\"x = \"}]");
    assert_eq!(e("f'{x=!r:5}'"), "f[{x!r:\"5\" dbg=\"x=\"}]");
    assert_eq!(e("f'{a == b}'"), "f[{(cmp a == b)}]");
    assert_eq!(e("f'{a != b}'"), "f[{(cmp a != b)}]");
    assert_eq!(e("f'{d[\"k\"]}'"), "f[{([] d \"k\")}]");
    assert_eq!(e("f'{1, 2}'"), "f[{(tuple 1 2)}]");
    assert_eq!(e("f'\\n{x}\\t'"), "f[\"\\n\" {x} \"\\t\"]");
    assert_eq!(e("rf'\\n{x}'"), "f[\"\\\\n\" {x}]");
    assert_eq!(e("f''"), "f[]");
    assert_eq!(e("f'{f\"{x}\"}'"), "f[{f[{x}]}]");
    assert_eq!(e("f'{ {1: 2}[1] }'"), "f[{([] {dict 1:2} 1)}]");
    assert_eq!(e("f'''{\nx\n}'''"), "f[{x}]");
}

#[test]
fn fstring_positions() {
    let m = parse("\nv = f'ab{xy}'\n").unwrap_or_else(|e| panic!("{:?}", e));
    let StmtKind::Assign { value, .. } = &m.body[0].kind else {
        panic!("not assign")
    };
    let ExprKind::FString(parts) = &value.kind else {
        panic!("not fstring")
    };
    let FPart::Value { expr, .. } = &parts[1] else {
        panic!("not value")
    };
    assert_eq!(expr.pos, Pos { line: 2, col: 10 });
}

#[test]
fn positions() {
    let m = parse("x = 1\nif a:\n    y = b.c + 2\n").unwrap_or_else(|e| panic!("{:?}", e));
    assert_eq!(m.body[1].pos, Pos { line: 2, col: 1 });
    let StmtKind::If { body, .. } = &m.body[1].kind else {
        panic!()
    };
    assert_eq!(body[0].pos, Pos { line: 3, col: 5 });
    let StmtKind::Assign { value, targets } = &body[0].kind else {
        panic!()
    };
    assert_eq!(targets[0].pos, Pos { line: 3, col: 5 });
    assert_eq!(value.pos, Pos { line: 3, col: 9 });
    let ExprKind::BinOp { right, .. } = &value.kind else {
        panic!()
    };
    assert_eq!(right.pos, Pos { line: 3, col: 15 });
}

#[test]
fn exact_ast() {
    let m = parse("x = -1\n").unwrap_or_else(|e| panic!("{:?}", e));
    let p = |line, col| Pos { line, col };
    assert_eq!(
        m,
        Module {
            body: vec![Stmt {
                kind: StmtKind::Assign {
                    targets: vec![Expr {
                        kind: ExprKind::Name("x".into()),
                        pos: p(1, 1)
                    }],
                    value: Expr {
                        kind: ExprKind::UnaryOp {
                            op: UnaryOp::Neg,
                            operand: Box::new(Expr {
                                kind: ExprKind::Int(1),
                                pos: p(1, 6)
                            })
                        },
                        pos: p(1, 5)
                    }
                },
                pos: p(1, 1)
            }]
        }
    );
}

// ----- statements -----------------------------------------------------------------

#[test]
fn assignments() {
    assert_eq!(p("a = b = 1"), "(= a b 1)");
    assert_eq!(p("x = 1, 2"), "(= x (tuple 1 2))");
    assert_eq!(p("a, *b = c"), "(= (tuple a *b) c)");
    assert_eq!(p("[a, b] = c"), "(= [a b] c)");
    assert_eq!(p("a.b[1] = yield"), "(= ([] (. a b) 1) (yield))");
    assert_eq!(
        p("x += 1; y //= 2; z **= 3"),
        "(+= x 1)\n(//= y 2)\n(**= z 3)"
    );
    assert_eq!(p("x @= m; x >>= 1; x <<= 1; x &= 1; x ^= 1; x |= 1; x %= 1; x -= 1; x *= 1; x /= 1"),
        "(@= x m)\n(>>= x 1)\n(<<= x 1)\n(&= x 1)\n(^= x 1)\n(|= x 1)\n(%= x 1)\n(-= x 1)\n(*= x 1)\n(/= x 1)");
    assert_eq!(p("x: int = 5"), "(ann x int 5)");
    assert_eq!(p("x: int"), "(ann x int)");
    assert_eq!(p("a.b: list[int] = []"), "(ann (. a b) ([] list int) [])");
    assert_eq!(p("x = y = yield z"), "(= x y (yield z))");
}

#[test]
fn compound_statements() {
    assert_eq!(
        p("if a:\n    x\nelif b:\n    y\nelif c: z\nelse:\n    w\n"),
        "(if a [x] [(if b [y] [(if c [z] [w])])])"
    );
    assert_eq!(p("while x: pass\nelse: break"), "(while x [pass] [break])");
    assert_eq!(
        p("for k, v in d.items():\n  continue\nelse:\n  pass"),
        "(for (tuple k v) (call (. d items)) [continue] [pass])"
    );
    assert_eq!(p("for x, in y: pass"), "(for (tuple x) y [pass] [])");
    assert_eq!(p("for x in 1, 2: pass"), "(for x (tuple 1 2) [pass] [])");
    assert_eq!(
        p("try:\n  a\nexcept (A, B) as e:\n  b\nexcept T:\n  c\nexcept:\n  d\nelse:\n  e\nfinally:\n  f\n"),
        "(try [a] (except (tuple A B) as e [b]) (except T [c]) (except _ [d]) [e] [f])"
    );
    assert_eq!(p("try:\n  a\nfinally:\n  f\n"), "(try [a] [] [f])");
    assert_eq!(p("with a as b, c:\n  pass"), "(with a as b, c [pass])");
    assert_eq!(
        p("with (a as b, c as (d, e),):\n  pass"),
        "(with a as b, c as (tuple d e) [pass])"
    );
    assert_eq!(p("with (a, b):\n  pass"), "(with a, b [pass])");
    assert_eq!(
        p("with (a, b) as c:\n  pass"),
        "(with (tuple a b) as c [pass])"
    );
    assert_eq!(p("with (a):\n  pass"), "(with a [pass])");
    assert_eq!(p("if x: y = 1; z = 2"), "(if x [(= y 1) (= z 2)] [])");
}

#[test]
fn definitions() {
    assert_eq!(
        p("@dec\n@mod.dec(1)\ndef f(a, b: int = 1, /, c=2, *args, d, e=3, **kw) -> int:\n    return a, b\n"),
        "(@dec @(call (. mod dec) 1) def f (a b:int=1 c=2 *args d e=3 **kw) -> int [(return (tuple a b))])"
    );
    assert_eq!(p("def f(*, a): pass"), "(def f (* a) [pass])");
    assert_eq!(p("def f(a,): return"), "(def f (a) [(return)])");
    assert_eq!(
        p("async def f():\n    await x\n    async for a in b: pass\n    async with c as d: pass\n"),
        "(async def f () [(await x) (async for a b [pass] []) (async with c as d [pass])])"
    );
    assert_eq!(p("class A: pass"), "(class A () [pass])");
    assert_eq!(p("class A(): pass"), "(class A () [pass])");
    assert_eq!(
        p("@d\nclass A(B, C):\n    x = 1\n"),
        "(@d class A (B C) [(= x 1)])"
    );
    assert_eq!(
        p("f = lambda *a, k=1, **kw: 0"),
        "(= f (lambda (*a k=1 **kw) 0))"
    );
    assert_eq!(
        p("def g():\n    yield 1\n    yield from h()\n    x = yield\n"),
        "(def g () [(yield 1) (yieldfrom (call h)) (= x (yield))])"
    );
}

#[test]
fn simple_statements() {
    assert_eq!(p("global a, b\nnonlocal c"), "(global a b)\n(nonlocal c)");
    assert_eq!(
        p("raise\nraise X\nraise X from Y"),
        "(raise)\n(raise X)\n(raise X from Y)"
    );
    assert_eq!(p("assert x, 'm'\nassert y"), "(assert x \"m\")\n(assert y)");
    assert_eq!(
        p("del a[i], b.x, c\ndel (d, e)"),
        "(del ([] a i) (. b x) c)\n(del (tuple d e))"
    );
    assert_eq!(p("import a.b as c, d"), "(import a.b as c, d)");
    assert_eq!(
        p("from a.b import x as y, z"),
        "(from a.b import x as y, z)"
    );
    assert_eq!(p("from m import (x,\n y,)"), "(from m import x, y)");
    assert_eq!(p("from m import *"), "(from m import *)");
    assert_eq!(
        p("from . import x\nfrom ..p import y"),
        "(from . import x)\n(from ..p import y)"
    );
    assert_eq!(p("pass; pass;"), "pass\npass");
    assert_eq!(p("return x, *y"), "(return (tuple x *y))");
    assert_eq!(p("match = 1\nmatch(x)"), "(= match 1)\n(call match x)");
    assert_eq!(p(""), "");
    assert_eq!(p("\n\n# only a comment\n   \n"), "");
    assert_eq!(
        p("x = (1 +\n  2)\ny = \\\n  3\r\nz = [\r\n1,\r2]"),
        "(= x (+ 1 2))\n(= y 3)\n(= z [1 2])"
    );
}

// ----- errors ---------------------------------------------------------------------

#[test]
fn error_messages() {
    let cases: &[(&str, &str, u32, u32)] = &[
        ("if x\n  pass\n", "expected ':'", 1, 5),
        ("class A\n", "expected ':'", 1, 8),
        ("x = (1 +\n", "'(' was never closed", 1, 5),
        ("x = [1, 2\n", "'[' was never closed", 1, 5),
        ("x = )\n", "unmatched ')'", 1, 5),
        ("x = (]\n", "closing parenthesis ']' does not match opening parenthesis '('", 1, 6),
        ("f() = 1\n", "cannot assign to function call here. Maybe you meant '==' instead of '='?", 1, 1),
        ("1 = x\n", "cannot assign to literal here. Maybe you meant '==' instead of '='?", 1, 1),
        ("None = 1\n", "cannot assign to None", 1, 1),
        ("True = 1\n", "cannot assign to True", 1, 1),
        ("a + 1 = 2\n", "cannot assign to expression here. Maybe you meant '==' instead of '='?", 1, 1),
        ("[x for x in y] = 1\n", "cannot assign to list comprehension here. Maybe you meant '==' instead of '='?", 1, 1),
        ("f() += 1\n", "'function call' is an illegal expression for augmented assignment", 1, 1),
        ("a, b += 1\n", "'tuple' is an illegal expression for augmented assignment", 1, 1),
        ("del f()\n", "cannot delete function call", 1, 5),
        ("del (a, 1)\n", "cannot delete literal", 1, 9),
        ("for 1 in x: pass\n", "cannot assign to literal", 1, 5),
        ("with a as 1: pass\n", "cannot assign to literal", 1, 11),
        ("x = 'abc\n", "unterminated string literal (detected at line 1)", 1, 5),
        ("x = '''abc\n\n", "unterminated triple-quoted string literal (detected at line 2)", 1, 5),
        ("print(1 2)\n", "invalid syntax. Perhaps you forgot a comma?", 1, 7),
        ("x = 0123\n", "leading zeros in decimal integer literals are not permitted; use an 0o prefix for octal integers", 1, 5),
        ("x = 1abc\n", "invalid decimal literal", 1, 5),
        ("a € b\n", "invalid character '€' (U+20AC)", 1, 3),
        ("f(a.b=1)\n", "expression cannot contain assignment, perhaps you meant \"==\"?", 1, 3),
        ("f(a=1, b)\n", "positional argument follows keyword argument", 1, 8),
        ("f(**a, b)\n", "positional argument follows keyword argument unpacking", 1, 8),
        ("f(**a, *b)\n", "iterable argument unpacking follows keyword argument unpacking", 1, 8),
        ("def f(a=1, b): pass\n", "non-default argument follows default argument", 1, 12),
        ("def f(a, a): pass\n", "duplicate argument 'a' in function definition", 1, 10),
        ("def f(*): pass\n", "named arguments must follow bare *", 1, 7),
        ("def f(**k, a): pass\n", "arguments cannot follow var-keyword argument", 1, 12),
        ("x = yield = 1\n", "assignment to yield expression not possible", 1, 5),
        ("f(x for x in y, 1)\n", "Generator expression must be parenthesized", 1, 3),
        ("x.None\n", "invalid syntax", 1, 3),
        ("x = 1 if 2\n", "expected 'else' after 'if' expression", 1, 5),
        ("try:\n  pass\nx=1\n", "expected 'except' or 'finally' block", 3, 1),
        ("(a, b): int\n", "only single target (not tuple) can be annotated", 1, 1),
        ("x = {1: 2, 3}\n", "':' expected after dictionary key", 1, 12),
        ("a b\n", "invalid syntax", 1, 3),
        ("x = 1 2\n", "invalid syntax", 1, 7),
        ("x =\n", "invalid syntax", 1, 4),
        ("x = 1 +\n", "invalid syntax", 1, 8),
        ("import\n", "invalid syntax", 1, 7),
        ("else:\n", "invalid syntax", 1, 1),
        ("print 'x'\n", "Missing parentheses in call to 'print'. Did you mean print(...)?", 1, 1),
        ("f'{}'\n", "f-string: empty expression not allowed", 1, 4),
        ("f'{x!z}'\n", "f-string: invalid conversion character: expected 's', 'r', or 'a'", 1, 6),
        ("f'}'\n", "f-string: single '}' is not allowed", 1, 3),
        ("f'{'\n", "f-string: expecting '}'", 1, 4),
        ("f'{a\\n}'\n", "f-string expression part cannot include a backslash", 1, 5),
        ("f'{a b}'\n", "f-string: invalid syntax. Perhaps you forgot a comma?", 1, 4),
        ("b'x'\n", "bytes literals are not supported in Toy", 1, 1),
        ("x = 2j\n", "imaginary literals are not supported in Toy", 1, 5),
        ("match x:\n    case 1: pass\n", "match statements are not supported in Toy", 1, 1),
        ("class A(metaclass=M): pass\n", "keyword arguments in class bases are not supported in Toy", 1, 19),
        ("x = \\", "unexpected EOF while parsing", 1, 6),
        ("a = - not b\n", "invalid syntax", 1, 7),
        ("a == not b\n", "invalid syntax", 1, 6),
        ("*a\n", "can't use starred expression here", 1, 1),
        ("x = (*a)\n", "cannot use starred expression here", 1, 6),
    ];
    for (src, msg, line, col) in cases {
        let (kind, m, l, c) = fail(src);
        assert_eq!(kind, SyntaxErrorKind::Syntax, "{:?}", src);
        assert_eq!((m.as_str(), l, c), (*msg, *line, *col), "{:?}", src);
    }
}

#[test]
fn indentation_errors() {
    let cases: &[(&str, &str, u32, u32)] = &[
        (
            "if x:\npass\n",
            "expected an indented block after 'if' statement on line 1",
            2,
            1,
        ),
        (
            "if x:\n",
            "expected an indented block after 'if' statement on line 1",
            1,
            6,
        ),
        (
            "for x in range(3):\npass\n",
            "expected an indented block after 'for' statement on line 1",
            2,
            1,
        ),
        (
            "def f():\nreturn\n",
            "expected an indented block after function definition on line 1",
            2,
            1,
        ),
        (
            "class C:\n\nx\n",
            "expected an indented block after class definition on line 1",
            3,
            1,
        ),
        (
            "if a:\n  pass\nelif b:\nx\n",
            "expected an indented block after 'elif' statement on line 3",
            4,
            1,
        ),
        (
            "while a:\n  pass\nelse:\nx\n",
            "expected an indented block after 'else' statement on line 3",
            4,
            1,
        ),
        (
            "try:\nx\n",
            "expected an indented block after 'try' statement on line 1",
            2,
            1,
        ),
        (
            "with a:\nx\n",
            "expected an indented block after 'with' statement on line 1",
            2,
            1,
        ),
        ("x = 1\n  y = 2\n", "unexpected indent", 2, 2),
        (
            "if 1:\n    a\n  b\n",
            "unindent does not match any outer indentation level",
            3,
            4,
        ),
    ];
    for (src, msg, line, col) in cases {
        let (kind, m, l, c) = fail(src);
        assert_eq!(kind, SyntaxErrorKind::Indentation, "{:?}", src);
        assert_eq!((m.as_str(), l, c), (*msg, *line, *col), "{:?}", src);
    }
    assert_eq!(
        fail("if x:\n\tif y:\n        pass\n").0,
        SyntaxErrorKind::Tab
    );
}

#[test]
fn render_of_parse_error() {
    let src = "def f():\n    x = (1 +\n";
    let err = parse(src).unwrap_err();
    assert_eq!(
        crate::front::diagnostics::render(&err, "prog.toy", src),
        "  File \"prog.toy\", line 2, column 9\n    x = (1 +\n        ^\nSyntaxError: '(' was never closed\n"
    );
}

// ----- depth ----------------------------------------------------------------------

/// Runs `f` on a thread with a 2 MiB stack.
fn small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let h = std::thread::Builder::new().stack_size(2 << 20).spawn(f);
    match h.map(|h| h.join()) {
        Ok(Ok(v)) => v,
        _ => panic!("thread failed"),
    }
}

fn kind_of(src: String) -> Option<SyntaxErrorKind> {
    small_stack(move || parse(&src).err().map(|e| e.kind))
}

#[test]
fn long_chains_are_too_deep() {
    let chain = format!("x = 1{}\n", "+1".repeat(200_000));
    assert_eq!(kind_of(chain), Some(SyntaxErrorKind::TooDeep));
    for (pre, atom, post) in [
        ("not ", "x", ""),
        ("- ", "x", ""),
        ("~", "x", ""),
        ("", "a", ".b"),
        ("", "f", "()"),
        ("", "a", "[0]"),
        ("lambda: ", "x", ""),
        ("", "x", " if c else x"),
        ("", "2", " ** 2"),
        ("", "a", " < a"),
        ("", "a", " and a"),
    ] {
        let src = format!("{}{}{}\n", pre.repeat(5000), atom, post.repeat(5000));
        let k = kind_of(src);
        // Comparisons and boolean operators are flat: fine at any length.
        if post == " < a" || post == " and a" {
            assert_eq!(k, None, "{} {}", pre, post);
        } else {
            assert_eq!(k, Some(SyntaxErrorKind::TooDeep), "{} {}", pre, post);
        }
    }
    let mut elifs = String::from("if a: pass\n");
    for _ in 0..5000 {
        elifs.push_str("elif a: pass\n");
    }
    assert_eq!(kind_of(elifs), Some(SyntaxErrorKind::TooDeep));
    assert_eq!(
        kind_of(format!("{}x", "await ".repeat(5000))),
        Some(SyntaxErrorKind::Syntax)
    );
    let defaults = format!("{}0{}\n", "lambda a=".repeat(3000), ": 0".repeat(3000));
    assert_eq!(kind_of(defaults), Some(SyntaxErrorKind::TooDeep));
}

#[test]
fn depth_limit_is_exact() {
    // The statement is level 1; 998 minus signs and the operand make 1000 levels.
    let ok = format!("{}x\n", "-".repeat(MAX_DEPTH - 2));
    assert_eq!(kind_of(ok), None);
    let bad = format!("{}x\n", "-".repeat(MAX_DEPTH - 1));
    assert_eq!(kind_of(bad), Some(SyntaxErrorKind::TooDeep));
    let ok = format!("x = 1{}\n", "+1".repeat(MAX_DEPTH - 2));
    assert_eq!(kind_of(ok), None);
    let bad = format!("x = 1{}\n", "+1".repeat(MAX_DEPTH - 1));
    assert_eq!(kind_of(bad), Some(SyntaxErrorKind::TooDeep));
    let ok = format!("f = {}x\n", "lambda: ".repeat(MAX_DEPTH - 2));
    assert_eq!(kind_of(ok), None);
}

#[test]
fn deep_but_legal_trees_on_small_stack() {
    // 1000-level trees built by every kind of nesting the parser recurses through.
    let srcs = vec![
        // Lambda parameter lists are charged extra recursion levels.
        format!("x = {}0{}\n", "lambda a=".repeat(150), ": 0".repeat(150)),
        format!("x = {}0{}\n", "(".repeat(199), ")".repeat(199)),
        format!("x = {}0{}\n", "[".repeat(199), "]".repeat(199)),
        format!("x = {}0{}\n", "f(".repeat(199), ")".repeat(199)),
        format!("x = {}0{}\n", "{1: ".repeat(199), "}".repeat(199)),
        format!("x = {}0{}\n", "a[".repeat(199), "]".repeat(199)),
        format!("x = {}0{}\n", "[y for y in ".repeat(199), "]".repeat(199)),
        format!("x = {}0{}\n", "(-(".repeat(99), "))".repeat(99)),
        format!(
            "x = f'{{f\"{{{}0{}}}\"}}'\n",
            "(".repeat(150),
            ")".repeat(150)
        ),
        format!("x = {}1{}\n", "(1 + (".repeat(99), "))".repeat(99)),
        format!("x = {}({}0)\n", "-".repeat(500), "lambda: ".repeat(400)),
    ];
    for src in srcs {
        let s2 = src.clone();
        assert_eq!(kind_of(src), None, "{}", &s2[..40.min(s2.len())]);
    }
    let mut nested = String::new();
    for k in 0..99 {
        nested.push_str(&" ".repeat(k));
        nested.push_str("if x:\n");
    }
    nested.push_str(&" ".repeat(99));
    nested.push_str(&format!("y = {}0{}\n", "(".repeat(199), ")".repeat(199)));
    assert_eq!(kind_of(nested), None);
}
