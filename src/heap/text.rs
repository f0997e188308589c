//! A str object's text: up to `Text::INLINE_CAP` bytes inside the object,
//! longer ones in a shared, reference-counted buffer.
//!
//! Most strings a program makes are short (words, keys, digits). Kept inline
//! they cost no allocation, no free and no memory outside the slot; a long
//! text is shared, so taking a copy to work on after the object's lock is
//! released costs a count, not a copy of the bytes.
//!
//! Why our own type rather than a ready-made small string: an inline text can
//! be *rewritten where it lies*. A short str freed without its lock stays in
//! its slot (see `Heap::free_str`), and the next short str allocated there
//! writes its bytes straight over the old ones (`Heap::alloc_short_str`).
//! Built anywhere else and then moved, a text of a few bytes is written a
//! byte run at a time and read back as whole 16-byte words, a load the
//! processor cannot serve from the narrower stores still in flight: in
//! strings.py that wait, three times per string made, cost more than the
//! copying itself.

use arrayvec::ArrayString;
use std::sync::Arc;

/// The inline form: a text of at most `Text::INLINE_CAP` bytes, in place.
pub type Inline = ArrayString<{ Text::INLINE_CAP }>;

#[derive(Clone)]
pub enum Text {
    Inline(Inline),
    Shared(Arc<str>),
}

impl Text {
    /// The longest text kept inline. With its length and the tag that makes
    /// a `Text` 32 bytes, and a `StrObj` 48 with its character count and
    /// hash: no more than a dict, the largest kind an object slot must hold
    /// anyway (`objects_fit_their_slot` below).
    pub const INLINE_CAP: usize = 24;

    /// The text of `s`: inline when it fits.
    #[inline]
    pub fn new(s: &str) -> Text {
        match ArrayString::from(s) {
            Ok(a) => Text::Inline(a),
            Err(_) => Text::Shared(Arc::from(s)),
        }
    }

    #[inline]
    pub fn as_str(&self) -> &str {
        match self {
            Text::Inline(a) => a.as_str(),
            Text::Shared(s) => s,
        }
    }

    /// Replace the text with `s` where it lies, if both are short enough to
    /// be inline; false (and the text unchanged) otherwise.
    #[inline]
    pub fn overwrite(&mut self, s: &str) -> bool {
        match self {
            Text::Inline(a) if s.len() <= Self::INLINE_CAP => {
                a.clear();
                a.try_push_str(s).is_ok()
            }
            _ => false,
        }
    }

    /// A copy of a text of at most `INLINE_CAP` bytes (empty if longer): a
    /// whole inline text is copied as it is, a fixed-size move.
    #[inline]
    pub fn inline_copy(&self) -> Inline {
        match self {
            Text::Inline(a) => *a,
            Text::Shared(s) => Inline::from(s).unwrap_or_default(),
        }
    }

    /// The text's bytes to change in place, when it is inline (a shared text
    /// may be read by others).
    #[inline]
    pub fn inline_mut(&mut self) -> Option<&mut str> {
        match self {
            Text::Inline(a) => Some(a.as_mut_str()),
            Text::Shared(_) => None,
        }
    }
}

impl Default for Text {
    fn default() -> Self {
        Text::Inline(ArrayString::new())
    }
}

impl std::ops::Deref for Text {
    type Target = str;
    #[inline]
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl std::borrow::Borrow<str> for Text {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl std::fmt::Display for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self.as_str(), f)
    }
}

impl std::fmt::Debug for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

// Equality, order and hash are the text's, whichever form holds it.
impl PartialEq for Text {
    fn eq(&self, other: &Text) -> bool {
        self.as_str() == other.as_str()
    }
}
impl Eq for Text {}
impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}
impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}
impl PartialOrd for Text {
    fn partial_cmp(&self, other: &Text) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Text {
    fn cmp(&self, other: &Text) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}
impl std::hash::Hash for Text {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Text {
        Text::new(s)
    }
}
impl From<&String> for Text {
    fn from(s: &String) -> Text {
        Text::new(s)
    }
}
impl From<String> for Text {
    fn from(s: String) -> Text {
        if s.len() <= Text::INLINE_CAP {
            Text::new(&s)
        } else {
            Text::Shared(Arc::from(s))
        }
    }
}
impl From<Arc<str>> for Text {
    fn from(s: Arc<str>) -> Text {
        // A short text is inline whatever it was made from: a freed short str
        // stays in its slot (see `Heap::free_str`) and must own no memory.
        if s.len() <= Text::INLINE_CAP {
            Text::new(&s)
        } else {
            Text::Shared(s)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Text;

    #[test]
    fn short_texts_are_inline_and_long_ones_shared() {
        let cap = Text::INLINE_CAP;
        assert_eq!(std::mem::size_of::<Text>(), 32);
        assert!(matches!(Text::new(&"a".repeat(cap)), Text::Inline(_)));
        assert!(matches!(Text::new(&"a".repeat(cap + 1)), Text::Shared(_)));
        assert!(matches!(Text::from("é".repeat(cap)), Text::Shared(_)));
        assert!(matches!(Text::from("é".repeat(cap / 2)), Text::Inline(_)));
        // Equal texts are equal (and hash alike) whatever their form.
        let shared = Text::from(std::sync::Arc::<str>::from("word"));
        assert_eq!(shared, Text::new("word"));
        assert_eq!(Text::new("b").cmp(&shared), std::cmp::Ordering::Less);
    }

    #[test]
    fn objects_fit_their_slot() {
        use crate::heap::objects::{Obj, StrObj};
        use std::mem::size_of;
        assert!(size_of::<StrObj>() <= size_of::<crate::heap::Dict>());
        assert_eq!(size_of::<Obj>(), 56);
    }

    #[test]
    fn overwrite_only_replaces_inline_with_short() {
        let mut t = Text::new("alpha");
        assert!(t.overwrite("zeta1"));
        assert_eq!(&*t, "zeta1");
        assert!(t.overwrite(""));
        assert_eq!(&*t, "");
        let long = "x".repeat(Text::INLINE_CAP + 1);
        assert!(!t.overwrite(&long));
        assert_eq!(&*t, "");
        let mut shared = Text::new(&long);
        assert!(!shared.overwrite("a"));
        assert_eq!(&*shared, long);
        assert!(shared.inline_mut().is_none());
        t.overwrite("MiXed");
        if let Some(m) = t.inline_mut() {
            m.make_ascii_uppercase();
        }
        assert_eq!(&*t, "MIXED");
    }
}
