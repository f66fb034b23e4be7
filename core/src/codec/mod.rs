//! Byte forms of [`crate::RecordValue`] and [`crate::Value`]: MessagePack
//! (TopGun's wire format) and JSON. (Being written.)
