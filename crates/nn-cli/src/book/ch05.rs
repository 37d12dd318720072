//! `book apples`: `buy_apple.py` and `buy_apple_orange.py` (§5.4), printed as the book's.

use anyhow::Result;

use crate::book_check::{buy_apple, buy_apple_orange};

/// Runs `book apples`.
pub fn apples() -> Result<()> {
    let [price, dapple, dapple_num, dtax] = buy_apple()[..] else {
        unreachable!("four numbers")
    };
    println!("buy_apple.py");
    // The book prints int(price) and int(dapple_num): 220.00000000000003 and 110.00000000000001.
    println!("price: {}", price as i64);
    println!("dApple: {dapple}");
    println!("dApple_num: {}", dapple_num as i64);
    println!("dTax: {dtax}");
    let [price, dapple, dapple_num, dorange, dorange_num, dtax] = buy_apple_orange()[..] else {
        unreachable!("six numbers")
    };
    println!("\nbuy_apple_orange.py");
    println!("price: {}", price as i64);
    println!("dApple: {dapple}");
    println!("dApple_num: {}", dapple_num as i64);
    println!("dOrange: {dorange}");
    println!("dOrange_num: {}", dorange_num as i64);
    println!("dTax: {dtax}");
    Ok(())
}
