//! The few etcd v3 protobuf messages the gRPC client ([`super::grpc`]) sends and reads
//! ("run" step), written by hand as prost structs so that building faultline needs no `protoc`
//! and no build script.
//!
//! Each struct carries only the fields faultline uses, under the field numbers of etcd's
//! `etcdserverpb/rpc.proto` and `mvccpb/kv.proto` (API v3, unchanged since etcd 3.0). Protobuf
//! decoding skips fields a struct does not declare, so the answers of any etcd 3.x decode into
//! them; enum fields are plain `int32` on the wire and appear here as `i32` with the values
//! below.

/// `Compare.CompareResult.EQUAL`.
pub const COMPARE_EQUAL: i32 = 0;
/// `Compare.CompareTarget.CREATE`: compare the key's create revision (0: never created).
pub const TARGET_CREATE: i32 = 1;
/// `Compare.CompareTarget.VALUE`: compare the key's value.
pub const TARGET_VALUE: i32 = 3;

/// `/etcdserverpb.KV/Range`: read one key.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RangeRequest {
    /// The key.
    #[prost(bytes = "vec", tag = "1")]
    pub key: Vec<u8>,
    /// Served by the member alone, without a quorum round (may be stale).
    #[prost(bool, tag = "7")]
    pub serializable: bool,
}

/// The answer to a [`RangeRequest`].
#[derive(Clone, PartialEq, prost::Message)]
pub struct RangeResponse {
    /// The keys found (none: the key does not exist).
    #[prost(message, repeated, tag = "2")]
    pub kvs: Vec<KeyValue>,
}

/// `mvccpb.KeyValue`: one stored key.
#[derive(Clone, PartialEq, prost::Message)]
pub struct KeyValue {
    /// The key.
    #[prost(bytes = "vec", tag = "1")]
    pub key: Vec<u8>,
    /// Its value.
    #[prost(bytes = "vec", tag = "5")]
    pub value: Vec<u8>,
}

/// `/etcdserverpb.KV/Put`: write one key.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PutRequest {
    /// The key.
    #[prost(bytes = "vec", tag = "1")]
    pub key: Vec<u8>,
    /// The new value.
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
}

/// The answer to a [`PutRequest`] (its header is not needed).
#[derive(Clone, PartialEq, prost::Message)]
pub struct PutResponse {}

/// One condition of a [`TxnRequest`].
#[derive(Clone, PartialEq, prost::Message)]
pub struct Compare {
    /// How the target relates to the given value ([`COMPARE_EQUAL`]).
    #[prost(int32, tag = "1")]
    pub result: i32,
    /// What is compared ([`TARGET_CREATE`], [`TARGET_VALUE`]).
    #[prost(int32, tag = "2")]
    pub target: i32,
    /// The key.
    #[prost(bytes = "vec", tag = "3")]
    pub key: Vec<u8>,
    /// The value compared against; its variant matches `target`.
    #[prost(oneof = "CompareWith", tags = "5, 7")]
    pub with: Option<CompareWith>,
}

/// `Compare.target_union`: the value a [`Compare`] tests against.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum CompareWith {
    /// A create revision (with [`TARGET_CREATE`]).
    #[prost(int64, tag = "5")]
    CreateRevision(i64),
    /// A value (with [`TARGET_VALUE`]).
    #[prost(bytes = "vec", tag = "7")]
    Value(Vec<u8>),
}

/// `RequestOp`: one operation of a txn branch; only puts are used.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RequestOp {
    /// The operation.
    #[prost(oneof = "Request", tags = "2")]
    pub request: Option<Request>,
}

/// `RequestOp.request`.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Request {
    /// A put.
    #[prost(message, tag = "2")]
    Put(PutRequest),
}

/// `/etcdserverpb.KV/Txn`: if every compare holds, run `success`, else `failure`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TxnRequest {
    /// The conditions.
    #[prost(message, repeated, tag = "1")]
    pub compare: Vec<Compare>,
    /// Run when all conditions hold.
    #[prost(message, repeated, tag = "2")]
    pub success: Vec<RequestOp>,
    /// Run otherwise.
    #[prost(message, repeated, tag = "3")]
    pub failure: Vec<RequestOp>,
}

/// The answer to a [`TxnRequest`].
#[derive(Clone, PartialEq, prost::Message)]
pub struct TxnResponse {
    /// Whether the conditions held (and `success` ran).
    #[prost(bool, tag = "2")]
    pub succeeded: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn compare_on_create_revision_zero_is_encoded() {
        // A oneof field is sent even when it holds the default value: etcd must see
        // `create_revision = 0`, not "no target value".
        let c = Compare {
            result: COMPARE_EQUAL,
            target: TARGET_CREATE,
            key: b"k1".to_vec(),
            with: Some(CompareWith::CreateRevision(0)),
        };
        let bytes = c.encode_to_vec();
        // target = 1 (field 2), key (field 3, 2 bytes), create_revision = 0 (field 5).
        assert_eq!(bytes, vec![0x10, 0x01, 0x1a, 0x02, b'k', b'1', 0x28, 0x00]);
    }

    #[test]
    fn range_response_decodes_value_and_skips_unknown_fields() {
        // header (field 1) and count (field 4) are not declared: skipped.
        let kv = [0x0a, 0x01, b'k', 0x10, 0x05, 0x2a, 0x01, b'7'];
        let mut bytes = vec![0x0a, 0x02, 0x08, 0x01, 0x12, kv.len() as u8];
        bytes.extend_from_slice(&kv);
        bytes.extend_from_slice(&[0x20, 0x01]);
        let r = RangeResponse::decode(bytes.as_slice()).unwrap();
        assert_eq!(r.kvs.len(), 1);
        assert_eq!(r.kvs[0].value, b"7");
    }
}
