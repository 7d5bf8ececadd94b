//! Who is asking: the identity a request authenticates as.

/// An authenticated user, as `UserInfo` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub uid: Option<String>,
    pub groups: Vec<String>,
}

impl User {
    /// The identity of the kubeconfig's token: a member of `system:masters`.
    pub fn admin() -> User {
        User {
            name: "kube-sim-admin".to_owned(),
            uid: None,
            groups: vec![
                "system:masters".to_owned(),
                "system:authenticated".to_owned(),
            ],
        }
    }

    /// A ServiceAccount's identity, as its tokens authenticate.
    pub fn service_account(namespace: &str, name: &str, uid: Option<String>) -> User {
        User {
            name: format!("system:serviceaccount:{namespace}:{name}"),
            uid,
            groups: vec![
                "system:serviceaccounts".to_owned(),
                format!("system:serviceaccounts:{namespace}"),
                "system:authenticated".to_owned(),
            ],
        }
    }

    pub fn user_info(&self) -> serde_json::Value {
        let mut info = serde_json::json!({"username": self.name, "groups": self.groups});
        if let Some(uid) = &self.uid {
            info["uid"] = serde_json::json!(uid);
        }
        info
    }
}
