//! The MRT reader over arbitrary bytes: every record framed by `SliceReader`
//! and decoded (`decode_record`), every RIB entry's attributes and every
//! BGP4MP message decoded, none of it panicking. `StreamReader` over the
//! same bytes must frame the same records.
#![no_main]

use bgp_proto::mrt::{decode_record, Record, SliceReader, StreamReader};
use bgp_proto::Message;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut stream = StreamReader::new(data);
    for framed in SliceReader::new(data) {
        let streamed = stream.next_record().expect("stream reader ended early");
        match (&framed, &streamed) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "slice and stream readers disagree"),
            (Err(a), Err(b)) => assert_eq!(a.offset, b.offset, "error offsets differ"),
            _ => panic!("slice reader {framed:?} vs stream reader {streamed:?}"),
        }
        let Ok(raw) = framed else { continue };
        match decode_record(&raw) {
            Ok(Record::Rib(rib)) => {
                for entry in rib.entries().flatten() {
                    let _ = entry.decode_attributes(rib.family);
                }
            }
            Ok(Record::TableDump(entry)) => {
                let _ = entry.decode_attributes();
            }
            Ok(Record::Bgp4mpMessage(m)) => {
                if let Ok((msg_type, body)) = m.split_message() {
                    let _ = Message::decode(msg_type, body, &m.context());
                }
            }
            _ => {}
        }
    }
    assert!(stream.next_record().is_none(), "stream reader has more records");
});
