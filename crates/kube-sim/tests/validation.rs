//! Validation where the real server validates, as the real kubectl 1.37.1
//! meets it: a Secret's `data` must be base64.

mod common;

use common::Cluster;

const SECRET: &str = r#"
apiVersion: v1
kind: Secret
metadata: {name: db, namespace: default}
data:
  user: YWRtaW4=
  password: admin
"#;

#[test]
fn a_secret_whose_data_is_not_base64_is_refused_as_by_the_real_server() {
    let cluster = Cluster::start();
    // Client-side apply creates it with a POST.
    let run = cluster.kubectl(&["apply", "-f", "-"], Some(SECRET));
    assert_ne!(run.code, 0, "{run:?}");
    assert!(
        run.stderr.contains(
            "Error from server (BadRequest): error when creating \"STDIN\": Secret in version \"v1\" cannot be handled as a Secret: illegal base64 data at input byte 4"
        ),
        "{run:?}"
    );
    let run = cluster.kubectl(&["create", "-f", "-"], Some(SECRET));
    assert!(
        run.stderr
            .contains("Secret in version \"v1\" cannot be handled as a Secret: illegal base64 data at input byte 4"),
        "{run:?}"
    );
    // Server-side apply fails when the applied object is converted.
    let run = cluster.kubectl(&["apply", "--server-side", "-f", "-"], Some(SECRET));
    assert_ne!(run.code, 0, "{run:?}");
    assert!(
        run.stderr.contains(
            "failed to convert new object (default/db; /v1, Kind=Secret) to proper version: unable to convert unstructured object to /v1, Kind=Secret: error decoding from json: illegal base64 data at input byte 4"
        ),
        "{run:?}"
    );
    let run = cluster.kubectl(&["get", "secret", "db"], None);
    assert!(run.stderr.contains("secrets \"db\" not found"), "{run:?}");

    // Encoded, it is taken; a patch that breaks it is refused.
    let fixed = SECRET.replace("password: admin", "password: YWRtaW4=");
    cluster.ok(&["apply", "--server-side", "-f", "-"], Some(&fixed));
    let run = cluster.kubectl(
        &[
            "patch",
            "secret",
            "db",
            "--type=merge",
            "-p",
            r#"{"data":{"password":"s3cr3t-x"}}"#,
        ],
        None,
    );
    assert_ne!(run.code, 0, "{run:?}");
    assert!(
        run.stderr
            .contains("error decoding from json: illegal base64 data at input byte 6"),
        "{run:?}"
    );
    let password = cluster.ok(
        &["get", "secret", "db", "-o", "jsonpath={.data.password}"],
        None,
    );
    assert_eq!(password, "YWRtaW4=");
}
