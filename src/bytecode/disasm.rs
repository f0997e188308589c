//! The disassembler: a `Program` as text, in the layout of Python's `dis` module
//! (source line, `>>` at jump targets, offset, opcode, operand, and what the operand
//! means), so a learner can hold `gilsim disasm` next to `python3 -m dis`.
//!
//! Instructions where the eval breaker is checked, and so where the GIL can change
//! hands, are marked with `*`.

use super::code::{Const, Program};
use super::instr::Instr;
use super::names::sym_name;
use std::fmt::Write;

fn const_repr(c: &Const) -> String {
    match c {
        Const::None => "None".into(),
        Const::Bool(b) => if *b { "True" } else { "False" }.into(),
        Const::Int(i) => i.to_string(),
        Const::BigInt(s) => s.to_string(),
        Const::Float(f) => format!("{f:?}"),
        Const::Str(s) => format!("{:?}", &**s),
        Const::Tuple(items) => {
            let parts: Vec<String> = items.iter().map(const_repr).collect();
            if parts.len() == 1 {
                format!("({},)", parts[0])
            } else {
                format!("({})", parts.join(", "))
            }
        }
        Const::Ellipsis => "Ellipsis".into(),
    }
}

fn jump_target(i: &Instr) -> Option<u32> {
    use Instr::*;
    match *i {
        Jump(t)
        | JumpBackward(t)
        | PopJumpIfFalse(t)
        | PopJumpIfTrue(t)
        | JumpIfFalseOrPop(t)
        | JumpIfTrueOrPop(t)
        | ForIter(t)
        | ForIterStore(t, _)
        | ForIterStoreGlobal(t, _)
        | SetupExcept(t)
        | JumpIfNotExcMatch(t)
        | CompareJump(_, t)
        | CompareFastConstJump(_, _, _, t)
        | CompareFastFastJump(_, _, _, t)
        | CompareConstJump(_, _, t)
        | IsNoneFastJump(_, _, t)
        | FastJumpIfFalse(_, t) => Some(t),
        _ => None,
    }
}

/// Whether the VM checks its eval breaker (drop requests, pending work) at `i`.
pub fn checks_breaker(i: &Instr) -> bool {
    matches!(
        i,
        Instr::JumpBackward(_)
            | Instr::Call(_)
            | Instr::CallKw(_)
            | Instr::CallEx
            | Instr::CallMethod(_)
    )
}

/// Split an instruction's Debug form into the opcode name and its raw operand.
fn name_and_arg(i: &Instr) -> (String, String) {
    // Operands that pack two numbers read better apart.
    match *i {
        Instr::LoadFast2(n) => return ("LoadFast2".into(), format!("{},{}", n >> 16, n & 0xffff)),
        Instr::UnpackEx(n) => return ("UnpackEx".into(), format!("{},{}", n >> 16, n & 0xffff)),
        Instr::BinaryFastConst(_, s, c) => return ("BinaryFastConst".into(), format!("{s},{c}")),
        Instr::AugFastConst(_, s, c) => return ("AugFastConst".into(), format!("{s},{c}")),
        Instr::SubscrFastConst(s, c) => return ("SubscrFastConst".into(), format!("{s},{c}")),
        Instr::SubscrFastFast(a, b) => return ("SubscrFastFast".into(), format!("{a},{b}")),
        Instr::StoreSubscrFastFast(a, b) => {
            return ("StoreSubscrFastFast".into(), format!("{a},{b}"))
        }
        Instr::StoreSubscrFastConst(a, c) => {
            return ("StoreSubscrFastConst".into(), format!("{a},{c}"))
        }
        Instr::ForIterStore(t, s) => return ("ForIterStore".into(), format!("{t},{s}")),
        Instr::ForIterStoreGlobal(t, g) => {
            return ("ForIterStoreGlobal".into(), format!("{t},{g}"))
        }
        Instr::LoadFastMethod(a, _) => return ("LoadFastMethod".into(), a.to_string()),
        Instr::LoadGlobalMethod(g, _) => return ("LoadGlobalMethod".into(), g.to_string()),
        Instr::CompareJump(_, t) => return ("CompareJump".into(), t.to_string()),
        Instr::CompareFastConstJump(_, a, b, t) => {
            return ("CompareFastConstJump".into(), format!("{a},{b},{t}"))
        }
        Instr::CompareFastFastJump(_, a, b, t) => {
            return ("CompareFastFastJump".into(), format!("{a},{b},{t}"))
        }
        Instr::BinaryFastFast(_, a, b) => return ("BinaryFastFast".into(), format!("{a},{b}")),
        Instr::BinaryConst(_, c) => return ("BinaryConst".into(), c.to_string()),
        Instr::BinaryTosFast(_, a) => return ("BinaryTosFast".into(), a.to_string()),
        Instr::BinaryStoreFast(_, a) => return ("BinaryStoreFast".into(), a.to_string()),
        Instr::CompareConstJump(_, c, t) => return ("CompareConstJump".into(), format!("{c},{t}")),
        Instr::IsNoneFastJump(_, a, t) => return ("IsNoneFastJump".into(), format!("{a},{t}")),
        Instr::FastJumpIfFalse(a, t) => return ("FastJumpIfFalse".into(), format!("{a},{t}")),
        Instr::StoreConstSubscrFastFast(a, b, c) => {
            return ("StoreConstSubscrFastFast".into(), format!("{a},{b},{c}"))
        }
        Instr::LoadAttrFast(a, _) => return ("LoadAttrFast".into(), a.to_string()),
        Instr::AugStoreAttrFast(_, a, _) => return ("AugStoreAttrFast".into(), a.to_string()),
        Instr::AugStoreSubscrFastConst(_, a, c) => {
            return ("AugStoreSubscrFastConst".into(), format!("{a},{c}"))
        }
        Instr::AugStoreSubscrFastFast(_, a, b) => {
            return ("AugStoreSubscrFastFast".into(), format!("{a},{b}"))
        }
        _ => {}
    }
    let dbg = format!("{i:?}");
    match dbg.find('(') {
        Some(p) => (dbg[..p].to_string(), dbg[p + 1..dbg.len() - 1].to_string()),
        None => (dbg, String::new()),
    }
}

pub fn disassemble(program: &Program) -> String {
    let mut out = String::new();
    for (ci, code) in program.codes.iter().enumerate() {
        if ci > 0 {
            out.push('\n');
        }
        let _ = writeln!(
            out,
            "Disassembly of <code object {} (#{ci}), line {}>:",
            code.qualname, code.first_line
        );
        let targets: Vec<u32> = code.instrs.iter().filter_map(jump_target).collect();
        let mut last_line = 0;
        for (ip, ins) in code.instrs.iter().enumerate() {
            let line = code.line_at(ip);
            let line_col = if line != last_line {
                last_line = line;
                if ip > 0 {
                    out.push('\n');
                }
                format!("{line:>4}")
            } else {
                "    ".into()
            };
            let mark = if targets.contains(&(ip as u32)) {
                ">>"
            } else {
                "  "
            };
            let brk = if checks_breaker(ins) { "*" } else { " " };
            let (name, raw) = name_and_arg(ins);
            let meaning = describe(program, ci, ins);
            let _ = writeln!(
                out,
                "{line_col} {brk}{mark} {ip:>4} {name:<23} {raw:<6}{}",
                if meaning.is_empty() {
                    String::new()
                } else {
                    format!(" ({meaning})")
                }
            );
        }
    }
    out
}

fn describe(program: &Program, ci: usize, i: &Instr) -> String {
    let code = &program.codes[ci];
    let global = |n: u32| {
        program
            .global_names
            .get(n as usize)
            .map(|s| s.to_string())
            .unwrap_or_default()
    };
    let konst = |c: u32| {
        code.consts
            .get(c as usize)
            .map(const_repr)
            .unwrap_or_default()
    };
    use Instr::*;
    match *i {
        LoadConst(n) => konst(n),
        LoadFast2(n) => format!(
            "{}, {}",
            code.slot_name(n >> 16),
            code.slot_name(n & 0xffff)
        ),
        ForIterStore(t, s) => format!("to {t}, store {}", code.slot_name(s as u32)),
        ForIterStoreGlobal(t, g) => format!("to {t}, store {}", global(g as u32)),
        LoadFastMethod(a, s) => format!("{}.{}", code.slot_name(a as u32), sym_name(s)),
        LoadGlobalMethod(g, s) => format!("{}.{}", global(g as u32), sym_name(s)),
        StoreSubscrFastFast(a, b) => format!(
            "{}[{}] =",
            code.slot_name(a as u32),
            code.slot_name(b as u32)
        ),
        StoreSubscrFastConst(s, c) => {
            format!("{}[{}] =", code.slot_name(s as u32), konst(c as u32))
        }
        StoreConstSubscrFastFast(a, b, c) => format!(
            "{}[{}] = {}",
            code.slot_name(a as u32),
            code.slot_name(b as u32),
            konst(c as u32)
        ),
        FastJumpIfFalse(a, t) => format!("{}, else to {t}", code.slot_name(a as u32)),
        SubscrFastFast(a, b) => {
            format!("{}[{}]", code.slot_name(a as u32), code.slot_name(b as u32))
        }
        SubscrFastConst(s, c) => format!("{}[{}]", code.slot_name(s as u32), konst(c as u32)),
        BinaryFastConst(op, s, c) | AugFastConst(op, s, c) => format!(
            "{} {}{} {}",
            code.slot_name(s as u32),
            op.symbol(),
            if matches!(*i, AugFastConst(..)) {
                "="
            } else {
                ""
            },
            konst(c as u32)
        ),
        LoadFast(n) | StoreFast(n) | DeleteFast(n) | LoadDeref(n) | StoreDeref(n)
        | LoadClosure(n) | ReturnFast(n) => code.slot_name(n).to_string(),
        ReturnConst(n) => konst(n),
        LoadGlobal(n) | StoreGlobal(n) | DeleteGlobal(n) => global(n),
        LoadName(s) | StoreName(s) | LoadAttr(s) | StoreAttr(s) | DeleteAttr(s) | LoadMethod(s)
        | ImportName(s) | ImportFrom(s) => sym_name(s).to_string(),
        Binary(op) => op.symbol().to_string(),
        BinaryInplace(op) => format!("{}=", op.symbol()),
        Compare(op) => op.symbol().to_string(),
        CompareJump(op, t) => format!("{}, else to {t}", op.symbol()),
        CompareFastConstJump(op, a, c, t) => format!(
            "{} {} {}, else to {t}",
            code.slot_name(a as u32),
            op.symbol(),
            konst(c as u32)
        ),
        CompareFastFastJump(op, a, b, t) => format!(
            "{} {} {}, else to {t}",
            code.slot_name(a as u32),
            op.symbol(),
            code.slot_name(b as u32)
        ),
        BinaryFastFast(op, a, b) => format!(
            "{} {} {}",
            code.slot_name(a as u32),
            op.symbol(),
            code.slot_name(b as u32)
        ),
        BinaryConst(op, c) => format!("{} {}", op.symbol(), konst(c)),
        BinaryTosFast(op, a) => format!("{} {}", op.symbol(), code.slot_name(a)),
        BinaryStoreFast(op, a) => format!("{}, store {}", op.symbol(), code.slot_name(a)),
        IsNoneFastJump(neg, a, t) => format!(
            "{} is {}None, else to {t}",
            code.slot_name(a as u32),
            if neg { "not " } else { "" }
        ),
        CompareConstJump(op, c, t) => {
            format!("{} {}, else to {t}", op.symbol(), konst(c as u32))
        }
        LoadAttrFast(a, s) => format!("{}.{}", code.slot_name(a as u32), sym_name(s)),
        AugStoreAttrFast(op, a, s) => format!(
            "{}.{} {}=",
            code.slot_name(a as u32),
            sym_name(s),
            op.symbol()
        ),
        AugStoreSubscrFastConst(op, a, c) => format!(
            "{}[{}] {}=",
            code.slot_name(a as u32),
            konst(c as u32),
            op.symbol()
        ),
        AugStoreSubscrFastFast(op, a, b) => format!(
            "{}[{}] {}=",
            code.slot_name(a as u32),
            code.slot_name(b as u32),
            op.symbol()
        ),
        IsOp(neg) => if neg { "is not" } else { "is" }.to_string(),
        ContainsOp(neg) => if neg { "not in" } else { "in" }.to_string(),
        MakeFunction(n) | MakeClass(n) => program
            .codes
            .get(n as usize)
            .map(|c| format!("code object {}", c.qualname))
            .unwrap_or_default(),
        Jump(t) | JumpBackward(t) | PopJumpIfFalse(t) | PopJumpIfTrue(t) | JumpIfFalseOrPop(t)
        | JumpIfTrueOrPop(t) | ForIter(t) | SetupExcept(t) | JumpIfNotExcMatch(t) => {
            format!("to {t}")
        }
        UnpackEx(n) => format!("{} before, {} after", n >> 16, n & 0xffff),
        _ => String::new(),
    }
}
