//! Splitting a command line into argv like a POSIX shell, without running one.
//! Never expands variables, globs or substitutions.

/// Splits a command line like a POSIX shell without running one: whitespace
/// separates words, '…' is literal, "…" honours \" \\ \$ \`, a backslash
/// outside quotes escapes the next character; `;` `|` `$` `*` stay literal.
pub fn split_command(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("the command has an unclosed ' quote".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            Some('\n') => {}
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err("the command has an unclosed \" quote".into()),
                        },
                        Some(c) => word.push(c),
                        None => return Err("the command has an unclosed \" quote".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some('\n') => {}
                    Some(c) => word.push(c),
                    None => return Err("the command ends with a lone backslash".into()),
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    if words.is_empty() {
        return Err("the command is empty".into());
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_splitting() {
        let ok: &[(&str, &[&str])] = &[
            ("a b  c", &["a", "b", "c"]),
            (
                "python -m 'my server' --x=\"1 2\"",
                &["python", "-m", "my server", "--x=1 2"],
            ),
            ("echo a;b | c $HOME", &["echo", "a;b", "|", "c", "$HOME"]),
            (r"a\ b c\\d", &["a b", r"c\d"]),
            (r#""a \"q\" \$x \n""#, &[r#"a "q" $x \n"#]),
            ("''", &[""]),
            ("'it''s'", &["its"]),
        ];
        for (line, want) in ok {
            assert_eq!(split_command(line).unwrap(), *want, "{line}");
        }
        for bad in ["", "   ", "'open", "\"open", "trailing\\"] {
            assert!(split_command(bad).is_err(), "{bad:?}");
        }
    }
}
