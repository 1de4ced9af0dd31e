// Package oauthpages renders the HTML pages of Pollux's browser sign-in
// flows: the start page that sends the operator to the provider, the page
// where a callback address is pasted back, the page that shows a device
// sign-in's code while it waits, the result of adding the credential, and
// the problem page for every failure.
//
// The templates are embedded and self-contained: no scripts, no external
// assets, one inline stylesheet allowed by its hash in the
// Content-Security-Policy. The device page follows its sign-in with a meta
// refresh rather than a script. Pages are plain semantic HTML (labels, native form
// controls, visible focus) so they work with a keyboard and on a phone.
//
// Every page is sent with Cache-Control: no-store and Referrer-Policy:
// no-referrer: the start page's own address may carry the Pollux key, and a
// callback address carries an authorization code, so neither may leak to the
// next site through the Referer header or stay in a cache.
package oauthpages
