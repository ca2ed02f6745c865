//! Numbers: exact integers and floats, literals, the results of arithmetic (overflow, non-finite
//! results), and the unit and range errors of numbers.

use super::Eval;
use crate::check::val::{INT_MAX, INT_MIN, Num, SVal, Val};
use crate::diag::{Diag, codes};
use crate::registry::schema::Ty;
use crate::source::Span;
use crate::syntax::ast::BinOp;

impl Eval<'_> {
    /// A number without a unit.
    pub(crate) fn number(&mut self, v: &SVal) -> Option<Num> {
        match &v.v {
            Val::Num { n, unit: None } => Some(*n),
            o => self.type_err(v.span, "a number", o),
        }
    }

    pub(crate) fn int(&mut self, v: &SVal, min: i64, max: i64) -> Option<i64> {
        let ty = Ty::Int { min, max };
        let i = self.exact_int(v, min.into(), max.into(), "", &ty.describe())?;
        Some(i64::try_from(i).expect("checked against i64 bounds"))
    }

    /// An exact integer in `[min, max]` (`what` names the parameter in the message, `expected`
    /// says the range). A unit other than `epochs` or `pixels` is refused; a float is accepted
    /// when whole and exact (|x| ≤ 2⁵³): a larger one may not be the integer that was written.
    pub(crate) fn exact_int(
        &mut self,
        v: &SVal,
        min: i128,
        max: i128,
        what: &str,
        expected: &str,
    ) -> Option<i128> {
        let Val::Num { n, unit } = &v.v else {
            return self.type_err(v.span, "an integer", &v.v);
        };
        if let Some(u) = unit {
            if u != "epochs" && u != "pixels" {
                return self.bad_unit(v.span, u, "an integer");
            }
        }
        let i = match n.exact_int() {
            Some(i) => i,
            None if n.f64().fract() != 0.0 => return self.type_err(v.span, "an integer", &v.v),
            None => {
                let shown = format!("{:e}", n.f64());
                self.err(
                    Diag::error(
                        codes::INEXACT_NUMBER,
                        format!("{shown} is written as a float, which holds integers exactly only up to 2⁵³ = 9007199254740992"),
                    )
                    .at(v.span, "not an exact integer")
                    .help("write the integer with all its digits, without `.` or an exponent (integers are exact up to 2⁶⁴ − 1)"),
                );
                return None;
            }
        };
        if i < min || i > max {
            let found = if what.is_empty() {
                i.to_string()
            } else {
                format!("{what} = {i}")
            };
            self.range_err(v.span, &found, expected);
            return None;
        }
        Some(i)
    }

    /// A literal: an integer written without `.` or an exponent is read exactly (never
    /// through `f64`); a float must not have overflowed (the parser refuses that) or
    /// underflowed to 0.
    pub(super) fn literal(&mut self, value: f64, text: &str, span: Span) -> Option<Num> {
        if !text.contains(['.', 'e', 'E']) {
            return match text.parse::<u128>().ok().filter(|i| *i <= INT_MAX as u128) {
                Some(i) => Some(Num::Int(i as i128)),
                None => {
                    self.err(
                        Diag::error(
                            codes::INT_OVERFLOW,
                            format!("the integer {text} is too large: integers are at most 18446744073709551615 (2⁶⁴ − 1)"),
                        )
                        .at(span, "does not fit 64 bits")
                        .help("seeds and counts must lie in [0, 2⁶⁴ − 1]; for a real number, write it as a float (`1e20`)"),
                    );
                    None
                }
            };
        }
        let mantissa = text.split(['e', 'E']).next().unwrap_or(text);
        if value == 0.0 && mantissa.bytes().any(|b| (b'1'..=b'9').contains(&b)) {
            self.err(
                Diag::error(
                    codes::INEXACT_NUMBER,
                    format!("`{text}` is too small for a 64-bit float: it would become 0"),
                )
                .at(span, "rounds to 0")
                .help("the smallest positive 64-bit float is about 5e-324; write 0 if 0 is meant"),
            );
            return None;
        }
        Some(Num::Float(value))
    }

    /// The result of integer arithmetic, refused outside [−2⁶³, 2⁶⁴ − 1].
    pub(super) fn int_result(&mut self, r: i128, span: Span, op: &str) -> Option<Num> {
        if (INT_MIN..=INT_MAX).contains(&r) {
            Some(Num::Int(r))
        } else {
            self.int_overflow(span, op);
            None
        }
    }

    pub(super) fn int_overflow(&mut self, span: Span, op: &str) {
        self.err(
            Diag::error(
                codes::INT_OVERFLOW,
                format!("integer overflow: the result of {op} lies outside [−2⁶³, 2⁶⁴ − 1]"),
            )
            .at(span, "overflows")
            .help("integers are exact and at most 18446744073709551615 (2⁶⁴ − 1); for real numbers write a float operand (`2.0`)"),
        );
    }

    /// The result of float arithmetic, refused when infinite or NaN.
    pub(super) fn float_result(&mut self, f: f64, span: Span, op: BinOp) -> Option<Num> {
        if f.is_finite() {
            return Some(Num::Float(f));
        }
        self.err(
            Diag::error(
                codes::NOT_FINITE,
                format!(
                    "the result of `{}` is {}: not a finite 64-bit float",
                    op.symbol(),
                    if f.is_nan() {
                        "not a number (NaN)"
                    } else {
                        "infinite"
                    }
                ),
            )
            .at(span, "not finite")
            .help("every number must be finite (at most about 1.8e308 in magnitude)"),
        );
        None
    }

    pub(super) fn bad_unit<T>(&mut self, span: Span, unit: &str, expected: &str) -> Option<T> {
        self.err(
            Diag::error(
                codes::BAD_UNIT,
                format!("`{unit}` is not a unit for this value"),
            )
            .at(span, format!("expected {expected}")),
        );
        None
    }

    pub(super) fn range_err(&mut self, span: Span, found: &str, expected: &str) {
        self.err(
            Diag::error(
                codes::OUT_OF_RANGE,
                format!("{found} is out of range: expected {expected}"),
            )
            .at(span, "out of range")
            .help(format!(
                "use {expected}; `lrx doc` lists every parameter's range"
            )),
        );
    }
}
