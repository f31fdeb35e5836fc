//! The pages' words, in every language pwreset speaks.

use pwreset_domain::Language;
use serde::Serialize;

/// Everything the pages say. Fields used by the script are serialised into
/// the page's configuration block.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Text {
    #[serde(skip)]
    pub reset_title: &'static str,
    #[serde(skip)]
    pub reset_intro: &'static str,
    #[serde(skip)]
    pub new_password: &'static str,
    #[serde(skip)]
    pub confirm_password: &'static str,
    #[serde(skip)]
    pub password_hint: &'static str,
    #[serde(skip)]
    pub show_password: &'static str,
    #[serde(skip)]
    pub submit_reset: &'static str,
    #[serde(skip)]
    pub done_title: &'static str,
    #[serde(skip)]
    pub done_body: &'static str,
    #[serde(skip)]
    pub go_login: &'static str,
    #[serde(skip)]
    pub invalid_title: &'static str,
    #[serde(skip)]
    pub invalid_body: &'static str,
    #[serde(skip)]
    pub expired_title: &'static str,
    #[serde(skip)]
    pub expired_body: &'static str,
    #[serde(skip)]
    pub request_new: &'static str,
    #[serde(skip)]
    pub forgot_title: &'static str,
    #[serde(skip)]
    pub forgot_intro: &'static str,
    #[serde(skip)]
    pub email: &'static str,
    #[serde(skip)]
    pub submit_forgot: &'static str,
    #[serde(skip)]
    pub sent_title: &'static str,
    #[serde(skip)]
    pub sent_body: &'static str,
    #[serde(skip)]
    pub noscript: &'static str,
    #[serde(skip)]
    pub language_switch: &'static str,
    pub too_short: &'static str,
    pub too_long: &'static str,
    pub too_many_bytes: &'static str,
    pub mismatch: &'static str,
    pub email_invalid: &'static str,
    pub inactive: &'static str,
    pub rate_limited: &'static str,
    pub failed: &'static str,
    pub network: &'static str,
    pub working: &'static str,
}

pub(crate) const EN_US: Text = Text {
    reset_title: "Choose a new password",
    reset_intro: "Enter a new password for your account.",
    new_password: "New password",
    confirm_password: "Repeat the new password",
    password_hint: "6 to 64 characters.",
    show_password: "Show passwords",
    submit_reset: "Change password",
    done_title: "Your password has been changed",
    done_body: "You can now sign in with your new password.",
    go_login: "Go to sign in",
    invalid_title: "This link is invalid",
    invalid_body: "The link is incomplete or damaged. Copy the whole link from the email, or request a new one.",
    expired_title: "This link has expired",
    expired_body: "Reset links work once and only for a limited time. Request a new link to try again.",
    request_new: "Request a new link",
    forgot_title: "Forgot your password?",
    forgot_intro: "Enter the email address of your account and we will send you a link to choose a new password.",
    email: "Email address",
    submit_forgot: "Send reset link",
    sent_title: "Check your email",
    sent_body: "If an account exists for that address, an email with a reset link is on its way. The link expires after a while; you can always request a new one.",
    noscript: "This page needs JavaScript to change your password.",
    language_switch: "中文",
    too_short: "The password must have at least 6 characters.",
    too_long: "The password must have at most 64 characters.",
    too_many_bytes: "The password is too long: use fewer non-Latin characters (at most 72 bytes).",
    mismatch: "The two passwords do not match.",
    email_invalid: "Enter an email address like name@example.com.",
    inactive: "This account cannot reset its password. Contact the site's administrator.",
    rate_limited: "Too many attempts. Try again in {seconds} seconds.",
    failed: "Something went wrong. Try again in a moment. (Reference: {id})",
    network: "The server could not be reached. Check your connection and try again.",
    working: "Working…",
};

pub(crate) const ZH_CN: Text = Text {
    reset_title: "设置新密码",
    reset_intro: "请为您的账户输入新密码。",
    new_password: "新密码",
    confirm_password: "再次输入新密码",
    password_hint: "6 至 64 个字符。",
    show_password: "显示密码",
    submit_reset: "修改密码",
    done_title: "密码已修改",
    done_body: "现在可以使用新密码登录了。",
    go_login: "前往登录",
    invalid_title: "链接无效",
    invalid_body: "链接不完整或已损坏。请从邮件中复制完整链接，或重新申请。",
    expired_title: "链接已失效",
    expired_body: "重置链接只能使用一次，且有有效期。请重新申请链接。",
    request_new: "重新申请链接",
    forgot_title: "忘记密码？",
    forgot_intro: "请输入账户的邮箱地址，我们会发送一封含有重置链接的邮件。",
    email: "邮箱地址",
    submit_forgot: "发送重置链接",
    sent_title: "请查收邮件",
    sent_body: "如果该地址对应一个账户，重置邮件正在发送中。链接会在一段时间后失效，届时可以重新申请。",
    noscript: "此页面需要启用 JavaScript 才能修改密码。",
    language_switch: "English",
    too_short: "密码至少需要 6 个字符。",
    too_long: "密码最多 64 个字符。",
    too_many_bytes: "密码过长：请减少非拉丁字符（最多 72 字节）。",
    mismatch: "两次输入的密码不一致。",
    email_invalid: "请输入有效的邮箱地址，例如 name@example.com。",
    inactive: "此账户无法重置密码，请联系网站管理员。",
    rate_limited: "尝试次数过多，请在 {seconds} 秒后重试。",
    failed: "出现错误，请稍后重试。（参考编号：{id}）",
    network: "无法连接服务器，请检查网络后重试。",
    working: "处理中…",
};

pub(crate) fn text(language: Language) -> &'static Text {
    match language {
        Language::EnUs => &EN_US,
        Language::ZhCn => &ZH_CN,
    }
}
