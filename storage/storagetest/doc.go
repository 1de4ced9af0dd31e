// Package storagetest opens real, migrated Pollux databases on temporary
// files for tests of packages that persist through storage.
package storagetest
