//! Characters that look like parts of the language but are not: Unicode spaces, full-width
//! and other look-alike operators, and Cyrillic or Greek letters that look like ASCII ones.
//! Errors name them (`U+00A0 NO-BREAK SPACE`) so that the cause is visible when the filter
//! looks right on screen. The table covers the characters errors point at; any other
//! character is named by its code point alone.

/// Unicode names of the characters errors name, and the ASCII character each stands for.
const NAMES: &[(char, &str, char)] = &[
    // Spaces other than the four the grammar knows (space, tab, CR, LF), and invisible ones.
    ('\u{0B}', "LINE TABULATION", ' '),
    ('\u{0C}', "FORM FEED", ' '),
    ('\u{85}', "NEXT LINE", ' '),
    ('\u{A0}', "NO-BREAK SPACE", ' '),
    ('\u{1680}', "OGHAM SPACE MARK", ' '),
    ('\u{2000}', "EN QUAD", ' '),
    ('\u{2001}', "EM QUAD", ' '),
    ('\u{2002}', "EN SPACE", ' '),
    ('\u{2003}', "EM SPACE", ' '),
    ('\u{2004}', "THREE-PER-EM SPACE", ' '),
    ('\u{2005}', "FOUR-PER-EM SPACE", ' '),
    ('\u{2006}', "SIX-PER-EM SPACE", ' '),
    ('\u{2007}', "FIGURE SPACE", ' '),
    ('\u{2008}', "PUNCTUATION SPACE", ' '),
    ('\u{2009}', "THIN SPACE", ' '),
    ('\u{200A}', "HAIR SPACE", ' '),
    ('\u{200B}', "ZERO WIDTH SPACE", ' '),
    ('\u{2028}', "LINE SEPARATOR", ' '),
    ('\u{2029}', "PARAGRAPH SEPARATOR", ' '),
    ('\u{202F}', "NARROW NO-BREAK SPACE", ' '),
    ('\u{205F}', "MEDIUM MATHEMATICAL SPACE", ' '),
    ('\u{2060}', "WORD JOINER", ' '),
    ('\u{3000}', "IDEOGRAPHIC SPACE", ' '),
    ('\u{FEFF}', "ZERO WIDTH NO-BREAK SPACE", ' '),
    // Operators.
    ('\u{FF1A}', "FULLWIDTH COLON", ':'),
    ('\u{FE55}', "SMALL COLON", ':'),
    ('\u{FE13}', "PRESENTATION FORM FOR VERTICAL COLON", ':'),
    ('\u{2236}', "RATIO", ':'),
    ('\u{A789}', "MODIFIER LETTER COLON", ':'),
    ('\u{FF1D}', "FULLWIDTH EQUALS SIGN", '='),
    ('\u{FE66}', "SMALL EQUALS SIGN", '='),
    ('\u{FF1C}', "FULLWIDTH LESS-THAN SIGN", '<'),
    ('\u{FF1E}', "FULLWIDTH GREATER-THAN SIGN", '>'),
    ('\u{2265}', "GREATER-THAN OR EQUAL TO", '>'),
    ('\u{2264}', "LESS-THAN OR EQUAL TO", '<'),
    // Cyrillic letters that look like Latin ones.
    ('\u{0430}', "CYRILLIC SMALL LETTER A", 'a'),
    ('\u{0435}', "CYRILLIC SMALL LETTER IE", 'e'),
    ('\u{043E}', "CYRILLIC SMALL LETTER O", 'o'),
    ('\u{0440}', "CYRILLIC SMALL LETTER ER", 'p'),
    ('\u{0441}', "CYRILLIC SMALL LETTER ES", 'c'),
    ('\u{0443}', "CYRILLIC SMALL LETTER U", 'y'),
    ('\u{0445}', "CYRILLIC SMALL LETTER HA", 'x'),
    ('\u{0455}', "CYRILLIC SMALL LETTER DZE", 's'),
    ('\u{0456}', "CYRILLIC SMALL LETTER BYELORUSSIAN-UKRAINIAN I", 'i'),
    ('\u{0458}', "CYRILLIC SMALL LETTER JE", 'j'),
    ('\u{04BB}', "CYRILLIC SMALL LETTER SHHA", 'h'),
    ('\u{0501}', "CYRILLIC SMALL LETTER KOMI DE", 'd'),
    ('\u{0410}', "CYRILLIC CAPITAL LETTER A", 'A'),
    ('\u{0412}', "CYRILLIC CAPITAL LETTER VE", 'B'),
    ('\u{0415}', "CYRILLIC CAPITAL LETTER IE", 'E'),
    ('\u{041A}', "CYRILLIC CAPITAL LETTER KA", 'K'),
    ('\u{041C}', "CYRILLIC CAPITAL LETTER EM", 'M'),
    ('\u{041D}', "CYRILLIC CAPITAL LETTER EN", 'H'),
    ('\u{041E}', "CYRILLIC CAPITAL LETTER O", 'O'),
    ('\u{0420}', "CYRILLIC CAPITAL LETTER ER", 'P'),
    ('\u{0421}', "CYRILLIC CAPITAL LETTER ES", 'C'),
    ('\u{0422}', "CYRILLIC CAPITAL LETTER TE", 'T'),
    ('\u{0425}', "CYRILLIC CAPITAL LETTER HA", 'X'),
    ('\u{0405}', "CYRILLIC CAPITAL LETTER DZE", 'S'),
    ('\u{0406}', "CYRILLIC CAPITAL LETTER BYELORUSSIAN-UKRAINIAN I", 'I'),
    ('\u{0408}', "CYRILLIC CAPITAL LETTER JE", 'J'),
    // Greek letters that look like Latin ones.
    ('\u{03B1}', "GREEK SMALL LETTER ALPHA", 'a'),
    ('\u{03B9}', "GREEK SMALL LETTER IOTA", 'i'),
    ('\u{03BA}', "GREEK SMALL LETTER KAPPA", 'k'),
    ('\u{03BD}', "GREEK SMALL LETTER NU", 'v'),
    ('\u{03BF}', "GREEK SMALL LETTER OMICRON", 'o'),
    ('\u{03C1}', "GREEK SMALL LETTER RHO", 'p'),
    ('\u{03C4}', "GREEK SMALL LETTER TAU", 't'),
    ('\u{03C5}', "GREEK SMALL LETTER UPSILON", 'u'),
    ('\u{0391}', "GREEK CAPITAL LETTER ALPHA", 'A'),
    ('\u{0392}', "GREEK CAPITAL LETTER BETA", 'B'),
    ('\u{0395}', "GREEK CAPITAL LETTER EPSILON", 'E'),
    ('\u{0396}', "GREEK CAPITAL LETTER ZETA", 'Z'),
    ('\u{0397}', "GREEK CAPITAL LETTER ETA", 'H'),
    ('\u{0399}', "GREEK CAPITAL LETTER IOTA", 'I'),
    ('\u{039A}', "GREEK CAPITAL LETTER KAPPA", 'K'),
    ('\u{039C}', "GREEK CAPITAL LETTER MU", 'M'),
    ('\u{039D}', "GREEK CAPITAL LETTER NU", 'N'),
    ('\u{039F}', "GREEK CAPITAL LETTER OMICRON", 'O'),
    ('\u{03A1}', "GREEK CAPITAL LETTER RHO", 'P'),
    ('\u{03A4}', "GREEK CAPITAL LETTER TAU", 'T'),
    ('\u{03A5}', "GREEK CAPITAL LETTER UPSILON", 'Y'),
    ('\u{03A7}', "GREEK CAPITAL LETTER CHI", 'X'),
];

fn entry(c: char) -> Option<&'static (char, &'static str, char)> {
    NAMES.iter().find(|(k, _, _)| *k == c)
}

/// `U+00A0 NO-BREAK SPACE`, or `U+1234` for a character outside the table.
pub fn describe(c: char) -> String {
    match entry(c) {
        Some((_, name, _)) => format!("U+{:04X} {name}", c as u32),
        None => format!("U+{:04X}", c as u32),
    }
}

/// A space the grammar does not treat as one (anything but space, tab, CR and LF that is
/// Unicode white space, and the zero-width spaces).
pub fn is_foreign_space(c: char) -> bool {
    (c.is_whitespace() && !matches!(c, ' ' | '\t' | '\r' | '\n'))
        || matches!(c, '\u{200B}' | '\u{2060}' | '\u{FEFF}')
}

/// The ASCII operator character `c` looks like (`：` → `:`).
pub fn operator_lookalike(c: char) -> Option<char> {
    entry(c).map(|e| e.2).filter(|a| matches!(a, ':' | '=' | '<' | '>'))
}

/// The ASCII letter `c` looks like (Cyrillic `е` → `e`).
pub fn letter_lookalike(c: char) -> Option<char> {
    entry(c).map(|e| e.2).filter(char::is_ascii_alphabetic)
}

/// `s` with look-alike letters replaced by the ASCII ones they resemble.
pub fn fold_letters(s: &str) -> String {
    s.chars().map(|c| letter_lookalike(c).unwrap_or(c)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_consistent() {
        for (i, (c, name, ascii)) in NAMES.iter().enumerate() {
            assert!(*c != *ascii && ascii.is_ascii() && !c.is_ascii_graphic(), "{name}");
            assert!(NAMES[..i].iter().all(|(k, _, _)| k != c), "{name} twice");
            if *ascii == ' ' {
                assert!(is_foreign_space(*c), "{name}");
            }
        }
        assert_eq!(describe('\u{A0}'), "U+00A0 NO-BREAK SPACE");
        assert_eq!(describe('é'), "U+00E9");
        assert_eq!(fold_letters("rеady"), "ready");
        assert_eq!(operator_lookalike('：'), Some(':'));
        assert!(!is_foreign_space(' ') && !is_foreign_space('\t'));
    }
}
