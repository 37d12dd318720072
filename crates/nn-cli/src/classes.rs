//! The names of a model's ten classes, from the dataset its file records.

/// MNIST's classes: the digits.
const DIGITS: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

/// Fashion-MNIST's classes, in the order of its labels.
const FASHION: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// The names of the ten classes of a model trained on `dataset` (the model file's `dataset`):
/// Fashion-MNIST's for `fashion`, the digits for `mnist`, for a file that does not say (format
/// versions 1 and 2, imported weights) and for any other name.
pub fn class_names(dataset: Option<&str>) -> [&'static str; 10] {
    match dataset {
        Some("fashion") => FASHION,
        _ => DIGITS,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_unless_fashion() {
        assert_eq!(class_names(None)[7], "7");
        assert_eq!(class_names(Some("mnist"))[0], "0");
        assert_eq!(class_names(Some("fashion"))[0], "T-shirt/top");
        assert_eq!(class_names(Some("fashion"))[9], "Ankle boot");
        assert_eq!(class_names(Some("kmnist"))[3], "3");
    }
}
