//! An MCP connection inside one process: typed messages over tokio channels.
//!
//! rmcp's services speak in typed `JsonRpcMessage` values; a transport only
//! carries them. Over stdio or HTTP each one is serialized to JSON and parsed
//! again; here the value itself is moved from one task to the other, so a
//! call to the in-process gateway costs two channel hand-offs each way and
//! no (de)serialization. (rmcp would also accept a `(Sink, Stream)` pair,
//! but its adapter puts the sink behind an async mutex; a direct
//! [`Transport`] impl on an unbounded channel has nothing to lock.)
//!
//! What arrives must be what a JSON round trip would deliver. One place
//! differs: rmcp keeps a request's `_meta` in the request's extensions and
//! merges the params-level `_meta` field into it only when serializing, so
//! the client half moves a `tools/call`'s params-level `_meta` into the
//! extensions itself (extension keys win on conflict, as on the wire).

use std::future::Future;

use rmcp::model::{
    ClientJsonRpcMessage, ClientRequest, JsonRpcMessage, JsonRpcRequest, RequestMetaObject,
    ServerJsonRpcMessage,
};
use rmcp::service::{RoleClient, RoleServer, RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

/// The other half of an in-process pair is gone (its service stopped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the other end of the in-process MCP connection is closed")]
pub struct ChannelClosed;

/// One direction's sender and the other direction's receiver.
#[derive(Debug)]
struct Channel<Out, In> {
    /// `None` once this side has closed.
    tx: Option<UnboundedSender<Out>>,
    rx: UnboundedReceiver<In>,
}

impl<Out, In> Channel<Out, In> {
    fn send(&self, item: Out) -> std::future::Ready<Result<(), ChannelClosed>> {
        let sent = match &self.tx {
            Some(tx) => tx.send(item).map_err(|_| ChannelClosed),
            None => Err(ChannelClosed),
        };
        std::future::ready(sent)
    }

    fn close(&mut self) {
        // Dropping the sender ends the peer's stream; closing the receiver
        // makes the peer's further sends fail instead of piling up.
        self.tx = None;
        self.rx.close();
    }
}

/// The client half of [`in_process_pair`]: give it to
/// [`McpHub::connect_transport`](crate::McpHub::connect_transport).
#[derive(Debug)]
pub struct ClientSide(Channel<ClientJsonRpcMessage, ServerJsonRpcMessage>);

/// The server half of [`in_process_pair`]: give it to rmcp's
/// `ServiceExt::serve` on a `ServerHandler`.
#[derive(Debug)]
pub struct ServerSide(Channel<ServerJsonRpcMessage, ClientJsonRpcMessage>);

/// A connected pair of in-process transports.
pub fn in_process_pair() -> (ClientSide, ServerSide) {
    let (to_server, from_client) = unbounded_channel();
    let (to_client, from_server) = unbounded_channel();
    (
        ClientSide(Channel {
            tx: Some(to_server),
            rx: from_server,
        }),
        ServerSide(Channel {
            tx: Some(to_client),
            rx: from_client,
        }),
    )
}

impl Transport<RoleClient> for ClientSide {
    type Error = ChannelClosed;

    fn name() -> std::borrow::Cow<'static, str> {
        "in-process".into()
    }

    fn send(
        &mut self,
        mut item: TxJsonRpcMessage<RoleClient>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        as_if_serialized(&mut item);
        self.0.send(item)
    }

    fn receive(&mut self) -> impl Future<Output = Option<RxJsonRpcMessage<RoleClient>>> + Send {
        self.0.rx.recv()
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.0.close();
        Ok(())
    }
}

/// Moves a `tools/call`'s params-level `_meta` where deserialization puts
/// it: into the request's [`RequestMetaObject`] extension.
fn as_if_serialized(message: &mut ClientJsonRpcMessage) {
    let JsonRpcMessage::Request(JsonRpcRequest {
        request: ClientRequest::CallToolRequest(call),
        ..
    }) = message
    else {
        return;
    };
    let Some(mut meta) = call.params.meta.take() else {
        return;
    };
    if let Some(extension) = call.extensions.remove::<RequestMetaObject>() {
        meta.extend(extension);
    }
    call.extensions.insert(meta);
}

impl Transport<RoleServer> for ServerSide {
    type Error = ChannelClosed;

    fn name() -> std::borrow::Cow<'static, str> {
        "in-process".into()
    }

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleServer>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        self.0.send(item)
    }

    fn receive(&mut self) -> impl Future<Output = Option<RxJsonRpcMessage<RoleServer>>> + Send {
        self.0.rx.recv()
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.0.close();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::{CallToolRequest, CallToolRequestParams, RequestId};
    use serde_json::json;

    /// A `tools/call` as rmcp's client builds it: `_meta` given in the
    /// params, a progress token put in the extensions.
    fn call_with_meta() -> ClientJsonRpcMessage {
        let mut params = CallToolRequestParams::new("t");
        let mut meta = RequestMetaObject::new();
        meta.0.0.insert("dev.bureau/run_id".into(), json!("r1"));
        meta.0
            .0
            .insert("progressToken".into(), json!("from-params"));
        params.meta = Some(meta);
        let mut request = CallToolRequest::new(params);
        let mut extension = RequestMetaObject::new();
        extension.0.0.insert("progressToken".into(), json!(7));
        request.extensions.insert(extension);
        ClientJsonRpcMessage::request(
            ClientRequest::CallToolRequest(request),
            RequestId::Number(1),
        )
    }

    fn meta_after(
        message: ClientJsonRpcMessage,
    ) -> (Option<RequestMetaObject>, Option<RequestMetaObject>) {
        let JsonRpcMessage::Request(JsonRpcRequest {
            request: ClientRequest::CallToolRequest(call),
            ..
        }) = message
        else {
            panic!("not a tools/call")
        };
        (
            call.params.meta,
            call.extensions.get::<RequestMetaObject>().cloned(),
        )
    }

    #[test]
    fn meta_lands_where_a_json_round_trip_puts_it() {
        let mut moved = call_with_meta();
        as_if_serialized(&mut moved);

        let json = serde_json::to_string(&call_with_meta()).unwrap();
        let round_trip: ClientJsonRpcMessage = serde_json::from_str(&json).unwrap();

        assert_eq!(meta_after(moved), meta_after(round_trip.clone()));
        let (params_meta, extension) = meta_after(round_trip);
        assert_eq!(params_meta, None);
        let extension = extension.unwrap();
        assert_eq!(extension.0.0.get("dev.bureau/run_id"), Some(&json!("r1")));
        assert_eq!(extension.0.0.get("progressToken"), Some(&json!(7)));
    }
}
