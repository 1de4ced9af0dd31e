// Package actorstest holds helpers for testing actors deterministically: a
// fake clock whose timers fire only when the test advances it, and an
// Expector that lets a test wait for the message an actor handled rather
// than poll the actor's state.
package actorstest
