//! The heap audit: at the end of a run, every live object's stored reference count
//! is compared with the references that actually point at it.
//!
//! References are counted by walking every live object's children (the same
//! `for_each_child` that freeing uses) and the roots the caller names (globals,
//! constants, built-ins, module caches, thread stacks). A count above the real
//! number is a leak (the object can never be freed), below it a future premature
//! free; a reference to a freed slot is dangling. Objects that nothing reachable
//! points to but whose counts are exact form reference cycles: CPython's cycle
//! collector would reclaim them; they are reported, but not as errors.

use super::slots::Heap;
use super::value::{ObjRef, Value};
use std::collections::HashMap;
use std::fmt::Write;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub obj: ObjRef,
    pub kind: &'static str,
    pub stored: i64,
    pub actual: i64,
    /// code index << 32 | instruction index where it was allocated (0: before
    /// the program ran)
    pub alloc_site: u64,
}

/// A reference to a freed slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dangling {
    /// The kind of object holding the reference ("root" for a global, a constant,
    /// a module or a thread's stack).
    pub holder: &'static str,
    pub stale: ObjRef,
    /// The freed object's kind and allocation site, if its slot was not reused
    /// since (see `Heap::freed_object`).
    pub freed: Option<(&'static str, u64)>,
}

#[derive(Debug, Default, Clone)]
pub struct AuditReport {
    pub allocated: u64,
    pub freed: u64,
    pub live: u64,
    pub too_high: Vec<Finding>,
    pub too_low: Vec<Finding>,
    pub dangling: Vec<Dangling>,
    pub cycle_objects: u64,
}

impl AuditReport {
    pub fn errors(&self) -> usize {
        self.too_high.len() + self.too_low.len() + self.dangling.len()
    }
}

/// Audit `heap` given every root reference (each entry is one held reference).
pub fn audit(heap: &Heap, roots: &[Value]) -> AuditReport {
    let mut held: HashMap<u32, i64> = HashMap::new();
    let mut live: HashMap<u32, (ObjRef, i64, &'static str, Vec<Value>)> = HashMap::new();
    for idx in 0..heap.high_water() {
        if let Some((r, rc, g)) = heap.peek(idx) {
            let mut kids = Vec::new();
            g.for_each_child(|c| kids.push(c));
            live.insert(idx, (r, rc, g.kind_name(), kids));
        }
    }
    let mut dangling = Vec::new();
    let mut count = |holder: &'static str, v: Value, held: &mut HashMap<u32, i64>| {
        if let Value::Obj(r) = v {
            match live.get(&r.idx) {
                Some((lr, ..)) if lr.gen == r.gen => *held.entry(r.idx).or_insert(0) += 1,
                _ => dangling.push(Dangling {
                    holder,
                    stale: r,
                    freed: heap.freed_object(r),
                }),
            }
        }
    };
    for &v in roots {
        count("root", v, &mut held);
    }
    let edges: Vec<(&'static str, Vec<Value>)> = live
        .values()
        .map(|(_, _, k, kids)| (*k, kids.clone()))
        .collect();
    for (kind, kids) in &edges {
        for &c in kids {
            count(kind, c, &mut held);
        }
    }
    // reachability from the roots
    let mut reached: HashMap<u32, bool> = HashMap::new();
    let mut work: Vec<u32> = roots
        .iter()
        .filter_map(|v| v.as_obj())
        .filter(|r| live.get(&r.idx).is_some_and(|(lr, ..)| lr.gen == r.gen))
        .map(|r| r.idx)
        .collect();
    while let Some(i) = work.pop() {
        if reached.insert(i, true).is_some() {
            continue;
        }
        if let Some((_, _, _, kids)) = live.get(&i) {
            for k in kids {
                if let Value::Obj(r) = k {
                    if live.get(&r.idx).is_some_and(|(lr, ..)| lr.gen == r.gen) {
                        work.push(r.idx);
                    }
                }
            }
        }
    }
    let mut rep = AuditReport {
        live: live.len() as u64,
        dangling,
        ..Default::default()
    };
    let (a, f) = heap.totals();
    rep.allocated = a;
    rep.freed = f;
    let mut idxs: Vec<&u32> = live.keys().collect();
    idxs.sort();
    for idx in idxs {
        let (r, rc, kind, _) = &live[idx];
        let actual = held.get(idx).copied().unwrap_or(0);
        let finding = Finding {
            obj: *r,
            kind,
            stored: *rc,
            actual,
            alloc_site: heap.alloc_site(*r),
        };
        if *rc > actual {
            rep.too_high.push(finding);
        } else if *rc < actual {
            rep.too_low.push(finding);
        } else if !reached.contains_key(idx) {
            rep.cycle_objects += 1;
        }
    }
    rep
}

/// The report as text; `site` turns an allocation site into "file:line".
pub fn render(rep: &AuditReport, site: impl Fn(u64) -> String) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "heap audit:");
    let _ = writeln!(
        out,
        "  objects: {} allocated, {} freed, {} live",
        rep.allocated, rep.freed, rep.live
    );
    let _ = writeln!(
        out,
        "  reference counts checked: {} live objects; {} too high (leaked), {} too low (would be freed early), {} dangling references",
        rep.live,
        rep.too_high.len(),
        rep.too_low.len(),
        rep.dangling.len()
    );
    let _ = writeln!(
        out,
        "  unreachable reference cycles: {} objects (not errors: CPython's cycle collector would free them)",
        rep.cycle_objects
    );
    for (title, list) in [("too high", &rep.too_high), ("too low", &rep.too_low)] {
        for f in list.iter().take(20) {
            let _ = writeln!(
                out,
                "  {title}: {} at slot {} (generation {}): stored count {}, references held {}, allocated at {}",
                f.kind,
                f.obj.idx,
                f.obj.gen,
                f.stored,
                f.actual,
                site(f.alloc_site)
            );
        }
        if list.len() > 20 {
            let _ = writeln!(out, "  ... and {} more {title}", list.len() - 20);
        }
    }
    for d in rep.dangling.iter().take(20) {
        let what = match d.freed {
            Some((kind, at)) => format!(" (a {kind} allocated at {})", site(at)),
            None => String::new(),
        };
        let _ = writeln!(
            out,
            "  dangling: a {} refers to slot {} generation {}{what}, which was freed",
            d.holder, d.stale.idx, d.stale.gen
        );
    }
    if rep.dangling.len() > 20 {
        let _ = writeln!(out, "  ... and {} more dangling", rep.dangling.len() - 20);
    }
    let verdict = if rep.errors() == 0 {
        "clean: every stored count matches the references held"
    } else {
        "REFERENCE COUNT ERRORS FOUND"
    };
    let _ = writeln!(out, "  result: {verdict}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heap::{LocalHeap, Obj, RefcountMode};

    #[test]
    fn finds_a_forced_leak_and_a_cycle() {
        let heap = Heap::new(1 << 20, RefcountMode::Plain);
        let mut local = LocalHeap::default();
        let a = heap.alloc(&mut local, Obj::List(vec![])).expect("room");
        let b = heap.alloc(&mut local, Obj::List(vec![])).expect("room");
        // a cycle: c -> d -> c, no roots
        let c = heap.alloc(&mut local, Obj::List(vec![])).expect("room");
        let d = heap
            .alloc(&mut local, Obj::List(vec![Value::Obj(c)]))
            .expect("room");
        if let Ok(mut g) = heap.get_mut(c) {
            *g = Obj::List(vec![Value::Obj(d)]);
        }
        heap.retire(&mut local);
        let clean = audit(&heap, &[Value::Obj(a), Value::Obj(b)]);
        assert_eq!(clean.errors(), 0);
        assert_eq!(clean.cycle_objects, 2);
        heap.force_refcount(b, 5);
        let bad = audit(&heap, &[Value::Obj(a), Value::Obj(b)]);
        assert_eq!(bad.too_high.len(), 1);
        assert_eq!(bad.too_high[0].stored, 5);
        assert_eq!(bad.too_high[0].actual, 1);
    }

    #[test]
    fn a_reference_to_an_object_freed_early_is_dangling_with_its_kind_and_site() {
        let heap = Heap::new(1 << 20, RefcountMode::Plain).with_sites();
        let mut local = LocalHeap::default();
        local.site = (2 << 32) | 5; // where the VM would be: code 2, instruction 5
        let a = heap
            .alloc(&mut local, Obj::Dict(Default::default()))
            .expect("room");
        let b = heap
            .alloc(&mut local, Obj::List(vec![Value::Obj(a), Value::Obj(a)]))
            .expect("room");
        // two references held, a stored count of one: too low
        let low = audit(&heap, &[Value::Obj(b)]);
        assert_eq!((low.too_low.len(), low.too_low[0].stored), (1, 1));
        heap.decref_obj(&mut local, a);
        let rep = audit(&heap, &[Value::Obj(b)]);
        assert_eq!(rep.dangling.len(), 2);
        assert_eq!(rep.dangling[0].holder, "list");
        assert_eq!(rep.dangling[0].freed, Some(("dict", (2 << 32) | 5)));
        let text = render(&rep, |s| format!("line {}", s & 0xffff));
        assert!(
            text.contains("(a dict allocated at line 5), which was freed"),
            "{text}"
        );
        // once the slot holds another object, what was freed there is unknown
        let _c = heap.alloc(&mut local, Obj::List(vec![])).expect("room");
        assert_eq!(audit(&heap, &[Value::Obj(b)]).dangling[0].freed, None);
    }
}
