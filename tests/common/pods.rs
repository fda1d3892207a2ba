//! What every rendered pod with Rampart must hold, however it was rendered (the chart, the
//! library chart, the Kustomize components): no side door to the app, probes the kubelet can
//! reach, and a container that PSA "restricted" admits.
use serde_json::Value;

/// Every container of a pod spec, init containers included.
pub fn containers(pod: &Value) -> Vec<&Value> {
    pod["containers"]
        .as_array()
        .into_iter()
        .chain(pod["initContainers"].as_array())
        .flatten()
        .collect()
}

pub fn rampart(pod: &Value) -> &Value {
    containers(pod)
        .into_iter()
        .find(|c| c["name"] == "rampart")
        .expect("a rampart container")
}

/// `template` is the pod template (metadata and spec); `docs` every rendered object.
/// Only Rampart declares ports; every probe targets one of them; a NetworkPolicy selecting
/// the pod admits ingress on those ports only; Rampart runs with the runtime's seccomp profile.
pub fn assert_no_side_door(docs: &[Value], template: &Value) {
    let pod = &template["spec"];
    let rampart = rampart(pod);
    let ports: Vec<&Value> = rampart["ports"]
        .as_array()
        .expect("rampart's ports")
        .iter()
        .map(|p| &p["containerPort"])
        .collect();
    for c in containers(pod) {
        if c["name"] != "rampart" {
            assert!(
                c.get("ports").is_none_or(Value::is_null),
                "{}: declares ports besides Rampart's",
                c["name"]
            );
        }
        for probe in ["readinessProbe", "livenessProbe", "startupProbe"] {
            let p = &c[probe];
            let port = p["httpGet"]["port"]
                .as_u64()
                .or(p["tcpSocket"]["port"].as_u64());
            if let Some(port) = port {
                assert!(
                    ports.iter().any(|x| x.as_u64() == Some(port)),
                    "{}.{probe} targets {port}, which only loopback serves: the kubelet cannot reach it",
                    c["name"]
                );
            }
        }
    }
    let labels = &template["metadata"]["labels"];
    let policy = docs
        .iter()
        .filter(|d| d["kind"] == "NetworkPolicy")
        .find(|d| {
            let wanted = d["spec"]["podSelector"]["matchLabels"].as_object();
            wanted.is_some_and(|w| w.iter().all(|(k, v)| &labels[k] == v))
        })
        .expect("a NetworkPolicy selecting the pod");
    assert_eq!(policy["spec"]["policyTypes"][0], "Ingress");
    let rules = policy["spec"]["ingress"].as_array().unwrap();
    for rule in rules {
        for p in rule["ports"]
            .as_array()
            .expect("every rule names its ports")
        {
            assert!(
                ports.contains(&&p["port"]),
                "the NetworkPolicy opens {}",
                p["port"]
            );
        }
    }
    assert_eq!(
        rampart["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
}
