//! The instruction set.
//!
//! One enum, at most 8 bytes per instruction (a test pins the size), operands resolved
//! at compile time: locals and cells are frame slots, globals are slots in the
//! program's global table, attribute names are interned symbols. Jump targets are
//! instruction indices.
//!
//! Where a thread switch may happen: CPython checks its eval breaker at backward
//! jumps and at calls, so does gilsim: `JumpBackward`, `ForIter`'s loop edge and the
//! `Call*` instructions are the only places where the VM looks at the breaker, and
//! `disasm` marks them. (A range loop whose body is one constant store at its
//! index, `seq[i] = c`, runs up to 256 steps per look: see `Vm::range_fill`.)

use super::names::Sym;

/// Binary operators. `x += 1` uses the same kinds (Toy has no separate in-place protocol).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum BinOpKind {
    Add,
    Sub,
    Mul,
    TrueDiv,
    FloorDiv,
    Mod,
    Pow,
    LShift,
    RShift,
    And,
    Or,
    Xor,
    MatMul,
}

impl BinOpKind {
    pub fn symbol(self) -> &'static str {
        use BinOpKind::*;
        match self {
            Add => "+",
            Sub => "-",
            Mul => "*",
            TrueDiv => "/",
            FloorDiv => "//",
            Mod => "%",
            Pow => "**",
            LShift => "<<",
            RShift => ">>",
            And => "&",
            Or => "|",
            Xor => "^",
            MatMul => "@",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum CmpKind {
    Lt,
    Le,
    Eq,
    Ne,
    Gt,
    Ge,
}

impl CmpKind {
    pub fn symbol(self) -> &'static str {
        match self {
            CmpKind::Lt => "<",
            CmpKind::Le => "<=",
            CmpKind::Eq => "==",
            CmpKind::Ne => "!=",
            CmpKind::Gt => ">",
            CmpKind::Ge => ">=",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Instr {
    Nop,
    // --- stack shuffles
    PopTop,
    DupTop,
    /// Duplicate the top two values (a b -> a b a b).
    DupTop2,
    RotTwo,
    RotThree,
    /// Move TOS down `n` places: used by `a.b op= c` and friends.
    RotFour,

    // --- names
    LoadConst(u32),
    LoadFast(u32),
    /// Two LoadFasts in one: operand is a << 16 | b (superinstruction).
    LoadFast2(u32),
    StoreFast(u32),
    DeleteFast(u32),
    /// Load the contents of the cell in frame slot n.
    LoadDeref(u32),
    StoreDeref(u32),
    /// Push the cell object in frame slot n itself (to build a closure).
    LoadClosure(u32),
    LoadGlobal(u32),
    StoreGlobal(u32),
    DeleteGlobal(u32),
    /// Class bodies only: look the name up in the class namespace, then globals.
    LoadName(Sym),
    StoreName(Sym),

    // --- attributes and items
    LoadAttr(Sym),
    /// `local.attr` (LoadFast, LoadAttr fused): the object stays borrowed from its slot.
    LoadAttrFast(u16, Sym),
    /// The store half of `local.attr op= TOS`: pops the right operand and the
    /// attribute's value (pushed by `LoadAttrFast`), stores the result.
    AugStoreAttrFast(BinOpKind, u16, Sym),
    StoreAttr(Sym),
    DeleteAttr(Sym),
    /// obj -> callable self_or_unbound  (CPython's LOAD_METHOD)
    LoadMethod(Sym),
    /// `local.name(` (LoadFast, LoadMethod fused): slot, method name.
    LoadFastMethod(u16, Sym),
    /// `glob.name(` (LoadGlobal, LoadMethod fused): global, method name.
    LoadGlobalMethod(u16, Sym),
    BinarySubscr,
    /// `local[const]` (LoadFast, LoadConst, BinarySubscr fused): slot, const index.
    SubscrFastConst(u16, u16),
    /// `local[local]` (LoadFast2, BinarySubscr fused): the two slots.
    SubscrFastFast(u16, u16),
    StoreSubscr,
    /// `local[local] = TOS` (LoadFast2, StoreSubscr fused).
    StoreSubscrFastFast(u16, u16),
    /// `local[const] = TOS` (LoadFast, LoadConst, StoreSubscr fused).
    StoreSubscrFastConst(u16, u16),
    /// `local[local] = const` (LoadConst, LoadFast2, StoreSubscr fused): the
    /// container's slot, the index's slot, the constant.
    StoreConstSubscrFastFast(u16, u16, u16),
    /// The store half of `local[const] op= TOS`: pops the right operand and the
    /// item's value (pushed by `SubscrFastConst`), stores the result. The compiler
    /// uses it only where nothing can rebind the local in between (no `:=`).
    AugStoreSubscrFastConst(BinOpKind, u16, u16),
    /// The same for `local[local] op= TOS` (after `SubscrFastFast`).
    AugStoreSubscrFastFast(BinOpKind, u16, u16),
    DeleteSubscr,
    /// Build a slice object from 2 or 3 stack values.
    BuildSlice(u32),
    /// `obj[a:b]` / `obj[a:b:c]` (BuildSlice, BinarySubscr fused): no slice object
    /// for lists, tuples and strings.
    SubscrSlice(u32),
    /// `obj[a:b(:c)] = v` (BuildSlice, StoreSubscr fused).
    StoreSlice(u32),

    // --- operators
    Binary(BinOpKind),
    /// `local op const` (LoadFast, LoadConst, Binary fused): slot, const index.
    BinaryFastConst(BinOpKind, u16, u16),
    /// `local op= const` (LoadFast, LoadConst, BinaryInplace, StoreFast fused).
    AugFastConst(BinOpKind, u16, u16),
    /// `local op local` (LoadFast2, Binary fused): the two slots.
    BinaryFastFast(BinOpKind, u16, u16),
    /// `TOS op const` (LoadConst, Binary fused): const index.
    BinaryConst(BinOpKind, u32),
    /// `TOS op local` (LoadFast, Binary fused): the slot.
    BinaryTosFast(BinOpKind, u32),
    /// `local = TOS1 op TOS` (Binary, StoreFast fused): the slot.
    BinaryStoreFast(BinOpKind, u32),
    /// `x op= y`: like Binary, but a list extends (`+=`) or repeats (`*=`) in place.
    BinaryInplace(BinOpKind),
    Compare(CmpKind),
    /// `is` (false) / `is not` (true)
    IsOp(bool),
    /// `in` (false) / `not in` (true)
    ContainsOp(bool),
    UnaryNeg,
    UnaryPos,
    UnaryNot,
    UnaryInvert,

    // --- control flow
    /// Compare, and jump to the operand if the result is false: `Compare` and
    /// `PopJumpIfFalse` fused by the compiler (loop and `if` tests).
    CompareJump(CmpKind, u32),
    /// `if local op const:` (LoadFast, LoadConst, CompareJump fused): slot, const
    /// index (both under 256), target.
    CompareFastConstJump(CmpKind, u8, u8, u32),
    /// `if local op local:` (LoadFast2, CompareJump fused): two slots under 256, target.
    CompareFastFastJump(CmpKind, u8, u8, u32),
    /// `if TOS op const:` (LoadConst, CompareJump fused): const index, target.
    CompareConstJump(CmpKind, u16, u32),
    /// `if local is None:` (false) / `if local is not None:` (true): LoadFast,
    /// LoadConst None, IsOp and PopJumpIfFalse fused; slot, target.
    IsNoneFastJump(bool, u16, u32),
    /// `if local:` / `while local:` (LoadFast, PopJumpIfFalse fused): slot,
    /// target taken when the local is false.
    FastJumpIfFalse(u16, u32),
    Jump(u32),
    /// A loop's back edge: the eval breaker is checked here.
    JumpBackward(u32),
    PopJumpIfFalse(u32),
    PopJumpIfTrue(u32),
    JumpIfFalseOrPop(u32),
    JumpIfTrueOrPop(u32),
    /// iterable -> three slots of iteration state (see vm::iter).
    GetIter,
    /// iterable -> iterator object (`iter(x)`), for comprehensions and `yield from`.
    MakeIter,
    /// Next item, or pop the three slots and jump to the operand when exhausted.
    ForIter(u32),
    /// ForIter and StoreFast fused: the next item goes straight into a local.
    ForIterStore(u32, u16),
    /// ForIter and StoreGlobal fused (a loop at a module's top level): the
    /// next item goes straight into a global.
    ForIterStoreGlobal(u32, u16),
    ReturnValue,
    /// `return local` (LoadFast, ReturnValue fused): the slot.
    ReturnFast(u32),
    /// `return const` (LoadConst, ReturnValue fused), as in the `return None`
    /// that ends a function: the constant.
    ReturnConst(u32),

    // --- building
    BuildList(u32),
    BuildTuple(u32),
    BuildDict(u32),
    BuildSet(u32),
    /// Append TOS to the list `n` slots below it (comprehensions).
    ListAppend(u32),
    /// Add key: value (TOS1: TOS) to the dict `n` slots below them.
    DictSetItem(u32),
    SetAdd(u32),
    /// Extend the list below TOS with the iterable TOS (`[*a, *b]`).
    ListExtend(u32),
    ListToTuple,
    /// Merge the mapping TOS into the dict below it (`{**a}`).
    DictUpdate(u32),
    /// Merge the mapping TOS into a call's keyword dict below it (`f(**a)`),
    /// whose callee is two places further down (CPython's `DICT_MERGE`):
    /// keys must be strs, and none may be given twice.
    DictMerge,
    /// seq -> n items, last on top... first on top (as CPython: first item ends on top).
    UnpackSequence(u32),
    /// `a, *b, c = seq`: operand is before << 16 | after.
    UnpackEx(u32),
    /// f-string piece: operand bit 0..1 conversion (0 none, 1 str, 2 repr, 3 ascii),
    /// bit 2: a format spec is on top of the value.
    FormatValue(u32),
    /// Concatenate n strings.
    BuildString(u32),

    // --- calls and definitions
    /// callee arg1..argn -> result
    Call(u32),
    /// callee args... kwnames(tuple const) -> result; operand = total arguments.
    CallKw(u32),
    /// callee args(tuple) kwargs(dict or None) -> result
    CallEx,
    /// method self_or_unbound args... -> result (see LoadMethod)
    CallMethod(u32),
    /// Make a function from code `n`; pops, in this order from the top: closure tuple
    /// (if the code has free variables), kw-defaults dict (if any), defaults tuple (if any).
    MakeFunction(u32),
    /// Run class-body code `n` in a new namespace with the bases tuple on the stack.
    MakeClass(u32),
    ImportName(Sym),
    /// module -> module attr
    ImportFrom(Sym),

    // --- exceptions
    /// Push a handler: on an exception, unwind the stack to its current depth and jump.
    SetupExcept(u32),
    PopBlock,
    /// End of an except clause: forget the exception being handled.
    PopExcept,
    /// exc exc-type -> (nothing): pop both, jump if exc does not match the type.
    JumpIfNotExcMatch(u32),
    /// 0: re-raise the handled exception; 1: raise TOS; 2: raise TOS1 from TOS.
    Raise(u32),
    /// Re-raise TOS (the exception a finally or handler block saved).
    Reraise,
    LoadAssertionError,
    /// with-statement entry: ctx -> exit_bound_method result_of_enter
    BeforeWith,
    /// async-with entry: ctx -> exit_bound_method awaitable_of_aenter
    BeforeAsyncWith,
    /// Normal with-statement exit: call the exit method below TOS with (None, None, None).
    WithExitNormal,
    /// The same for `async with`, keeping the result (an awaitable) on the stack.
    AsyncWithExitNormal,
    /// Exceptional with-statement exit: exit exc -> (calls exit(type, exc, tb)); pushes
    /// true if the exception is suppressed.
    WithExitExc,

    // --- generators and coroutines
    YieldValue,
    /// Delegate to a sub-iterator (yield from / await); operand unused.
    YieldFrom,
    GetAwaitable,
    /// Push None and continue: a generator's first resumption starts here.
    GenStart,
}

#[cfg(test)]
mod tests {
    #[test]
    fn instructions_fit_in_eight_bytes() {
        assert!(std::mem::size_of::<super::Instr>() <= 8);
    }
}
